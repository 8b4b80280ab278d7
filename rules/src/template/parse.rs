//! Parser from lexed items to the template tree, with Go's parse-time
//! checks: every variable must be declared before use and every function
//! must exist (`undefined variable "$label"`, `function "x" not defined`),
//! so `sluice check rules` catches what `promtool check rules` catches.

use super::TemplateError;
use super::funcs::is_function;
use super::lex::{Item, Tok, Token};

/// A node of the template tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: printed unless it declares or assigns variables.
    Action(Pipeline),
    /// `{{ if }}` / `{{ with }}`: `with` also rebinds the dot.
    Branch {
        kind: BranchKind,
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ range }}` over a map (sorted keys) or a list.
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ break }}` / `{{ continue }}` inside a range.
    Break,
    Continue,
    /// `{{ template "name" pipeline }}`: runs a `define`d template with the
    /// pipeline's value (or nil) as its dot.
    TemplateCall(String, Option<Pipeline>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    With,
}

/// `$a, $b := cmd | cmd ...`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub(crate) decl: Vec<String>,
    /// `=` (assign to existing variables) rather than `:=`.
    pub(crate) is_assign: bool,
    pub(crate) cmds: Vec<Command>,
}

/// One command of a pipeline: a function call or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// `.`
    Dot,
    /// `.A.B` on the dot.
    Field(Vec<String>),
    /// `$x.A.B`
    Variable(String, Vec<String>),
    /// A function name.
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Sub(Box<Pipeline>, Vec<String>),
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// `{{define}}` bodies seen so far.
    defines: std::collections::BTreeMap<String, Vec<Node>>,
    /// Declared variables, innermost last; a mark per open block.
    vars: Vec<String>,
}

/// Collects the string literal of every `query "..."` command in `nodes`.
pub(crate) fn literal_queries(nodes: &[Node], out: &mut Vec<String>) {
    fn pipe(p: &Pipeline, out: &mut Vec<String>) {
        for cmd in &p.cmds {
            if let [Arg::Func(f), Arg::Str(q), ..] = cmd.args.as_slice()
                && f == "query"
            {
                out.push(q.clone());
            }
            for a in &cmd.args {
                if let Arg::Sub(inner, _) = a {
                    pipe(inner, out);
                }
            }
        }
    }
    for n in nodes {
        match n {
            Node::Action(p) => pipe(p, out),
            Node::Branch {
                pipe: p,
                then,
                otherwise,
                ..
            } => {
                pipe(p, out);
                literal_queries(then, out);
                literal_queries(otherwise, out);
            }
            Node::Range {
                pipe: p,
                body,
                otherwise,
            } => {
                pipe(p, out);
                literal_queries(body, out);
                literal_queries(otherwise, out);
            }
            Node::TemplateCall(_, Some(p)) => pipe(p, out),
            Node::Text(_) | Node::TemplateCall(_, None) | Node::Break | Node::Continue => {}
        }
    }
}

/// The main template and its `define`d templates.
pub(crate) type Parsed = (Vec<Node>, std::collections::BTreeMap<String, Vec<Node>>);

/// Parses lexed items; `predeclared` are variables in scope from the start.
pub(crate) fn parse(items: Vec<Item>, predeclared: &[&str]) -> Result<Parsed, TemplateError> {
    let mut p = Parser {
        items,
        pos: 0,
        defines: Default::default(),
        vars: predeclared.iter().map(|s| s.to_string()).collect(),
    };
    p.vars.push(String::new()); // `$` is always defined.
    let (nodes, end) = p.list(0)?;
    match end {
        ListEnd::Eof => Ok((nodes, p.defines)),
        ListEnd::Else(_) => Err(TemplateError::Parse("unexpected {{else}}".into())),
        ListEnd::End => Err(TemplateError::Parse("unexpected {{end}}".into())),
    }
}

/// What stopped a list.
enum ListEnd {
    Eof,
    End,
    /// `{{ else }}` or `{{ else if ... }}` / `{{ else with ... }}` (the
    /// tokens after `else`).
    Else(Vec<Token>),
}

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::Parse(msg.into()))
}

impl Parser {
    /// Parses nodes until `{{end}}`, `{{else}}` or the end of input.
    /// `range_depth` says whether `break`/`continue` are allowed.
    fn list(&mut self, range_depth: usize) -> Result<(Vec<Node>, ListEnd), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = self.items[self.pos].clone();
            self.pos += 1;
            let toks = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(t) => t,
            };
            let keyword = match toks.first().map(|t| &t.tok) {
                Some(Tok::Ident(k)) => k.as_str(),
                None => return err("missing value for command"),
                _ => "",
            };
            match keyword {
                "end" => {
                    if toks.len() > 1 {
                        return err("unexpected tokens after end");
                    }
                    return Ok((nodes, ListEnd::End));
                }
                "else" => return Ok((nodes, ListEnd::Else(toks[1..].to_vec()))),
                "if" | "with" => {
                    let kind = if keyword == "if" {
                        BranchKind::If
                    } else {
                        BranchKind::With
                    };
                    nodes.push(self.branch(kind, &toks[1..], range_depth)?);
                }
                "range" => nodes.push(self.range(&toks[1..], range_depth)?),
                "break" | "continue" => {
                    if range_depth == 0 {
                        return err(format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" => {
                    // A named template: its own scope (`$` is its dot).
                    let (Some(Tok::Str(name)), 2) = (toks.get(1).map(|t| &t.tok), toks.len()) else {
                        return err("{{define}} needs one template name in quotes");
                    };
                    let name = name.clone();
                    let outer = std::mem::replace(&mut self.vars, vec![String::new()]);
                    let (body, end) = self.list(0)?;
                    self.vars = outer;
                    if !matches!(end, ListEnd::End) {
                        return err("{{define}} without {{end}}");
                    }
                    self.defines.insert(name, body);
                }
                "template" => {
                    let Some(Tok::Str(name)) = toks.get(1).map(|t| &t.tok) else {
                        return err("{{template}} needs a template name in quotes");
                    };
                    let name = name.clone();
                    let pipe = if toks.len() > 2 {
                        Some(self.pipeline(&toks[2..], false)?)
                    } else {
                        None
                    };
                    nodes.push(Node::TemplateCall(name, pipe));
                }
                "block" => {
                    return err("{{block}} is not supported in rule templates");
                }
                _ => {
                    let pipe = self.pipeline(&toks, true)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, ListEnd::Eof))
    }

    fn branch(
        &mut self,
        kind: BranchKind,
        toks: &[Token],
        range_depth: usize,
    ) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, true)?;
        let (then, end) = self.list(range_depth)?;
        let otherwise = match end {
            ListEnd::Eof => return err("unexpected EOF"),
            ListEnd::End => Vec::new(),
            ListEnd::Else(rest) => self.else_part(kind, &rest, range_depth)?,
        };
        self.vars.truncate(mark);
        Ok(Node::Branch {
            kind,
            pipe,
            then,
            otherwise,
        })
    }

    /// After `{{else}}`: either a plain else list up to `{{end}}`, or an
    /// `else if` / `else with` chain, which shares the outer `{{end}}`.
    fn else_part(
        &mut self,
        kind: BranchKind,
        rest: &[Token],
        range_depth: usize,
    ) -> Result<Vec<Node>, TemplateError> {
        if rest.is_empty() {
            let (list, end) = self.list(range_depth)?;
            return match end {
                ListEnd::End => Ok(list),
                ListEnd::Eof => err("unexpected EOF"),
                ListEnd::Else(_) => err("expected end; found {{else}}"),
            };
        }
        let chained = match &rest[0].tok {
            Tok::Ident(k) if k == "if" => BranchKind::If,
            Tok::Ident(k) if k == "with" && kind == BranchKind::With => BranchKind::With,
            _ => return err("unexpected tokens after else"),
        };
        Ok(vec![self.branch(chained, &rest[1..], range_depth)?])
    }

    fn range(&mut self, toks: &[Token], range_depth: usize) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, true)?;
        if pipe.decl.len() > 2 {
            return err("too many declarations in range");
        }
        let (body, end) = self.list(range_depth + 1)?;
        let otherwise = match end {
            ListEnd::Eof => return err("unexpected EOF"),
            ListEnd::End => Vec::new(),
            ListEnd::Else(rest) if rest.is_empty() => {
                let (list, end) = self.list(range_depth)?;
                if !matches!(end, ListEnd::End) {
                    return err("expected end after range's else");
                }
                list
            }
            ListEnd::Else(_) => return err("unexpected tokens after else in range"),
        };
        self.vars.truncate(mark);
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    /// `[$a[, $b] (:=|=)] command (| command)*`
    fn pipeline(&mut self, toks: &[Token], allow_decl: bool) -> Result<Pipeline, TemplateError> {
        let mut decl = Vec::new();
        let mut is_assign = false;
        let mut rest = toks;
        if allow_decl {
            // Find `$a :=`, `$a =`, `$a, $b :=`.
            let mut names = Vec::new();
            let mut i = 0;
            while let Some(Token {
                tok: Tok::Variable(v),
                ..
            }) = rest.get(i)
            {
                names.push(v.clone());
                match rest.get(i + 1).map(|t| &t.tok) {
                    Some(Tok::Comma) => i += 2,
                    Some(Tok::Declare) | Some(Tok::Assign) => {
                        is_assign = matches!(rest[i + 1].tok, Tok::Assign);
                        decl = names.clone();
                        rest = &rest[i + 2..];
                        break;
                    }
                    _ => break,
                }
            }
        }
        if is_assign {
            for v in &decl {
                self.check_var(v)?;
            }
        }
        let mut cmds = Vec::new();
        for part in split_top_level(rest, |t| matches!(t, Tok::Pipe))? {
            if part.is_empty() {
                return err("missing command in pipeline");
            }
            cmds.push(self.command(part)?);
        }
        if cmds.is_empty() {
            return err("missing value for command");
        }
        // Declared variables come into scope after the pipeline.
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self, toks: &[Token]) -> Result<Command, TemplateError> {
        let mut args = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let (arg, used) = self.operand(&toks[i..])?;
            args.push(arg);
            i += used;
            if i < toks.len() && !toks[i].space_before && !matches!(toks[i].tok, Tok::LParen) {
                return err("missing space between arguments");
            }
        }
        if args.len() > 1 && !matches!(args[0], Arg::Func(_)) {
            return err(format!("can't give argument to non-function {:?}", args[0]));
        }
        Ok(Command { args })
    }

    /// One operand and the number of tokens it used (fields chained to it
    /// without a space belong to it).
    fn operand(&mut self, toks: &[Token]) -> Result<(Arg, usize), TemplateError> {
        let mut used = 1;
        let arg = match &toks[0].tok {
            Tok::Dot => Arg::Dot,
            Tok::Field(f) => {
                let mut chain = vec![f.clone()];
                used += take_fields(&toks[1..], &mut chain);
                Arg::Field(chain)
            }
            Tok::Variable(v) => {
                self.check_var(v)?;
                let mut chain = Vec::new();
                used += take_fields(&toks[1..], &mut chain);
                Arg::Variable(v.clone(), chain)
            }
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Number(n) => parse_number(n)?,
            Tok::Ident(w) => match w.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                name if is_function(name) => Arg::Func(name.to_string()),
                name => return err(format!("function {name:?} not defined")),
            },
            Tok::LParen => {
                let close = matching_paren(toks)?;
                let inner = self.pipeline(&toks[1..close], false)?;
                used = close + 1;
                let mut chain = Vec::new();
                used += take_fields(&toks[used..], &mut chain);
                Arg::Sub(Box::new(inner), chain)
            }
            other => return err(format!("unexpected {other:?} in operand")),
        };
        Ok((arg, used))
    }

    fn check_var(&self, v: &str) -> Result<(), TemplateError> {
        if self.vars.iter().any(|d| d == v) {
            Ok(())
        } else {
            err(format!("undefined variable \"${v}\""))
        }
    }
}

/// Appends `.A.B` fields that follow without a space; returns how many.
fn take_fields(toks: &[Token], chain: &mut Vec<String>) -> usize {
    let mut n = 0;
    for t in toks {
        match &t.tok {
            Tok::Field(f) if !t.space_before => {
                chain.push(f.clone());
                n += 1;
            }
            _ => break,
        }
    }
    n
}

fn matching_paren(toks: &[Token]) -> Result<usize, TemplateError> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    err("unclosed left paren")
}

/// Splits at `sep` tokens outside parentheses.
fn split_top_level(toks: &[Token], sep: impl Fn(&Tok) -> bool) -> Result<Vec<&[Token]>, TemplateError> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth < 0 {
                    return err("unexpected right paren");
                }
            }
            ref tok if depth == 0 && sep(tok) => {
                parts.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() || !parts.is_empty() {
        parts.push(&toks[start..]);
    }
    Ok(parts)
}

/// Go's number constants: an integer when it reads as one, else a float.
fn parse_number(text: &str) -> Result<Arg, TemplateError> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if !body.contains(['.', 'e', 'E']) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Ok(Arg::Int(if neg { -i } else { i }));
    }
    match body.parse::<f64>() {
        Ok(f) => Ok(Arg::Float(if neg { -f } else { f })),
        Err(_) => err(format!("bad number syntax: {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    fn p(src: &str) -> Result<Vec<Node>, TemplateError> {
        parse(lex(src)?, &["labels", "value"]).map(|(nodes, _)| nodes)
    }

    #[test]
    fn undefined_variables_and_functions_are_parse_errors() {
        let e = p("{{ $label.foo }}").unwrap_err().to_string();
        assert!(e.contains("undefined variable \"$label\""), "{e}");
        let e = p("{{ humanise 1 }}").unwrap_err().to_string();
        assert!(e.contains("function \"humanise\" not defined"), "{e}");
        assert!(p("{{ if 1 }}x").is_err());
        assert!(p("{{ end }}").is_err());
        assert!(p("{{ break }}").is_err());
    }

    #[test]
    fn named_templates_parse_and_are_checked() {
        let (nodes, defines) = parse(
            lex(r#"{{ define "t" }}{{ .arg0 }}{{ end }}{{ template "t" (args "a" 1) }}"#).unwrap(),
            &[],
        )
        .unwrap();
        assert!(matches!(nodes.as_slice(), [Node::TemplateCall(name, Some(_))] if name == "t"));
        assert!(defines.contains_key("t"));
        // The body has its own scope: outer variables are not visible.
        assert!(p(r#"{{ $x := 1 }}{{ define "t" }}{{ $x }}{{ end }}"#).is_err());
        assert!(p(r#"{{ define "t" }}x"#).is_err());
        assert!(p(r#"{{ template }}"#).is_err());
    }

    #[test]
    fn declarations_scope_to_their_block() {
        assert!(p("{{ $x := 1 }}{{ $x }}").is_ok());
        assert!(p("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}").is_err());
        assert!(p("{{ range $k, $v := $labels }}{{ $k }}={{ $v }}{{ end }}").is_ok());
        assert!(p("{{ $y = 2 }}").is_err());
    }

    #[test]
    fn else_if_chains_share_one_end() {
        let nodes = p("{{ if eq 1 2 }}a{{ else if eq 1 1 }}b{{ else }}c{{ end }}").unwrap();
        let Node::Branch { otherwise, .. } = &nodes[0] else {
            panic!("{nodes:?}")
        };
        assert!(matches!(otherwise[0], Node::Branch { .. }));
    }

    #[test]
    fn fields_chain_only_without_space() {
        let nodes = p("{{ $labels.job }}").unwrap();
        let Node::Action(pipe) = &nodes[0] else { panic!() };
        assert_eq!(
            pipe.cmds[0].args,
            vec![Arg::Variable("labels".into(), vec!["job".into()])]
        );
        assert!(p("{{ $labels .job }}").is_err());
    }
}
