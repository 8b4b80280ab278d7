//! Executing a parsed template against alert data, with Go's semantics for
//! truth, fields, variables, pipelines and `range`.

use std::collections::BTreeMap;

use super::funcs::{FuncEnv, call};
use super::gofmt::sprint;
use super::parse::{Arg, BranchKind, Command, Node, Pipeline};

/// A template value (the Go types rule templates meet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An invalid value (Go prints `<no value>`).
    Missing,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `map[string]string` (label sets); a missing key reads as `""`
    /// because Prometheus runs templates with `missingkey=zero`.
    Map(BTreeMap<String, Value>),
    /// A struct with named fields (the template's `.`, a query sample).
    Struct(Vec<(&'static str, Value)>),
    /// A slice (query results).
    List(Vec<Value>),
}

/// Go's `truth`: the zero value of every type is false.
pub(crate) fn truth(v: &Value) -> bool {
    match v {
        Value::Missing | Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::List(l) => !l.is_empty(),
        Value::Struct(_) => true,
    }
}

/// How a list ended: normally, or by `{{break}}` / `{{continue}}`.
enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    vars: Vec<(String, Value)>,
    env: &'a FuncEnv<'a>,
    defines: &'a BTreeMap<String, Vec<Node>>,
}

impl<'a> Exec<'a> {
    /// An executor whose `$` is `root`, with extra predeclared variables.
    pub(crate) fn new(
        root: &Value,
        predeclared: Vec<(String, Value)>,
        env: &'a FuncEnv<'a>,
        defines: &'a BTreeMap<String, Vec<Node>>,
    ) -> Self {
        let mut vars = vec![(String::new(), root.clone())];
        vars.extend(predeclared);
        Exec { vars, env, defines }
    }

    /// Runs `nodes` with `dot`, appending the output.
    pub(crate) fn run(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        self.list(nodes, dot, out).map(|_| ())
    }

    fn list(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<Flow, String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipeline(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        out.push_str(&sprint(&v));
                    }
                }
                Node::Branch {
                    kind,
                    pipe,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot)?;
                    let flow = if truth(&v) {
                        let inner_dot = if *kind == BranchKind::With { v } else { dot.clone() };
                        self.list(then, &inner_dot, out)?
                    } else {
                        self.list(otherwise, dot, out)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    self.range(pipe, body, otherwise, dot, out)?;
                    self.vars.truncate(mark);
                }
                Node::TemplateCall(name, pipe) => {
                    let Some(body) = self.defines.get(name) else {
                        return Err(format!("no such template {name:?}"));
                    };
                    let arg = match pipe {
                        Some(p) => self.pipeline(p, dot)?,
                        None => Value::Nil,
                    };
                    // A fresh scope whose `$` is the argument, as in Go.
                    let saved = std::mem::replace(&mut self.vars, vec![(String::new(), arg.clone())]);
                    let flow = self.list(body, &arg, out);
                    self.vars = saved;
                    flow?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), String> {
        // Evaluate the commands without declaring: range binds per element.
        let undeclared = Pipeline {
            decl: Vec::new(),
            is_assign: false,
            cmds: pipe.cmds.clone(),
        };
        let v = self.pipeline(&undeclared, dot)?;
        let elems: Vec<(Value, Value)> = match v {
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Missing | Value::Nil => Vec::new(),
            other => return Err(format!("range can't iterate over {}", sprint(&other))),
        };
        if elems.is_empty() {
            self.list(otherwise, dot, out)?;
            return Ok(());
        }
        let mark = self.vars.len();
        for (key, elem) in elems {
            self.vars.truncate(mark);
            match pipe.decl.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), elem.clone())),
                [k, v, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), elem.clone()));
                }
            }
            match self.list(body, &elem, out)? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        let v = value.unwrap_or(Value::Missing);
        if pipe.is_assign {
            for name in &pipe.decl {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            }
        } else {
            for name in &pipe.decl {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    /// One command; `piped` is the previous command's result, passed as the
    /// last argument of a function.
    fn command(&mut self, cmd: &Command, dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        if let Some(Arg::Func(name)) = cmd.args.first() {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(self.operand(a, dot)?);
            }
            args.extend(piped);
            return call(name, args, self.env);
        }
        if piped.is_some() {
            return Err(format!("can't give argument to non-function {:?}", cmd.args[0]));
        }
        match cmd.args.first() {
            Some(Arg::Nil) => Err("nil is not a command".into()),
            Some(a) => self.operand(a, dot),
            None => Err("empty command".into()),
        }
    }

    fn operand(&mut self, arg: &Arg, dot: &Value) -> Result<Value, String> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => fields(dot.clone(), chain),
            Arg::Variable(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: ${name}"))?;
                fields(v, chain)
            }
            Arg::Func(name) => call(name, Vec::new(), self.env),
            Arg::Str(s) => Ok(Value::Str(s.clone())),
            Arg::Int(i) => Ok(Value::Int(*i)),
            Arg::Float(f) => Ok(Value::Float(*f)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Nil),
            Arg::Sub(pipe, chain) => {
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot)?;
                self.vars.truncate(mark);
                fields(v, chain)
            }
        }
    }
}

/// Follows `.A.B` from `v`.
fn fields(mut v: Value, chain: &[String]) -> Result<Value, String> {
    for f in chain {
        v = match v {
            Value::Map(m) => m.get(f).cloned().unwrap_or(Value::Str(String::new())),
            Value::Struct(fs) => fs
                .into_iter()
                .find(|(n, _)| n == f)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("can't evaluate field {f} in type struct"))?,
            Value::Missing | Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{f}")),
            other => {
                return Err(format!(
                    "can't evaluate field {f} in type {}",
                    match other {
                        Value::Str(_) => "string",
                        Value::Int(_) => "int",
                        Value::Float(_) => "float64",
                        Value::Bool(_) => "bool",
                        _ => "map[string]string",
                    }
                ));
            }
        };
    }
    Ok(v)
}
