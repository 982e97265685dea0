//! The query language: PocketBase's filter grammar (API.md §3) for `filter` and `sort`,
//! API rules, realtime filters and partial-index conditions, compiled to parameterised SQL.
//!
//! No axum and no tokio here: this module is plain functions over the schema snapshot,
//! tested on its own. User text never reaches SQL: values are bound parameters, and
//! identifiers come from the schema through `schema::quote_ident`.
//!
//! Depends only on `schema` and `util`; must not depend on `db`, the services or `api`.

pub mod ast;
pub mod compile;
pub mod eval;
pub mod fields;
pub mod functions;
pub mod parser;
pub mod request;
pub mod sort;

pub use ast::{Comparison, Expr, Identifier, Op, Operand, Span};
pub use compile::{compile_where, Compiled, Mode, Scope};
pub use eval::{evaluate, EvalError, Target};
pub use parser::parse;
pub use request::{AuthRecord, RequestInfo};
pub use sort::compile_sort;

/// A problem with an expression, with the byte span it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {}..{})", span.start, span.end)]
pub struct QueryError {
    pub message: String,
    pub span: Span,
    /// The expression is well-formed but uses what this caller may not (403, not 400).
    pub forbidden: bool,
}

impl QueryError {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span,
            forbidden: false,
        }
    }

    pub fn forbidden(mut self) -> Self {
        self.forbidden = true;
        self
    }
}
