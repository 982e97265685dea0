//! The syntax tree of a filter expression (PocketBase's `fexpr` grammar, API.md §3).

/// Byte offsets `start..end` into the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// A comparison operator. The `Any*` forms are the `?`-prefixed "at least one" operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    NotLike,
    AnyEq,
    AnyNeq,
    AnyGt,
    AnyGte,
    AnyLt,
    AnyLte,
    AnyLike,
    AnyNotLike,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Neq => "!=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Like => "~",
            Op::NotLike => "!~",
            Op::AnyEq => "?=",
            Op::AnyNeq => "?!=",
            Op::AnyGt => "?>",
            Op::AnyGte => "?>=",
            Op::AnyLt => "?<",
            Op::AnyLte => "?<=",
            Op::AnyLike => "?~",
            Op::AnyNotLike => "?!~",
        }
    }

    /// True for the `?` ("any of") operators.
    pub fn is_any(self) -> bool {
        matches!(
            self,
            Op::AnyEq
                | Op::AnyNeq
                | Op::AnyGt
                | Op::AnyGte
                | Op::AnyLt
                | Op::AnyLte
                | Op::AnyLike
                | Op::AnyNotLike
        )
    }

    /// The operator without its `?`.
    pub fn base(self) -> Op {
        match self {
            Op::AnyEq => Op::Eq,
            Op::AnyNeq => Op::Neq,
            Op::AnyGt => Op::Gt,
            Op::AnyGte => Op::Gte,
            Op::AnyLt => Op::Lt,
            Op::AnyLte => Op::Lte,
            Op::AnyLike => Op::Like,
            Op::AnyNotLike => Op::NotLike,
            other => other,
        }
    }
}

/// An identifier: a dotted path with an optional `:modifier` on its last segment.
/// `null`, `true` and `false` are identifiers too until resolved against the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier {
    /// The text as written.
    pub raw: String,
    /// Path segments (`@request.auth.id` → `["@request", "auth", "id"]`).
    pub path: Vec<String>,
    /// Modifier after `:` on the last segment (`isset`, `changed`, `length`, `each`, `lower`).
    pub modifier: Option<String>,
    /// The alias of `@collection.<name>:alias`.
    pub alias: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A quoted string, escapes resolved.
    Text(String, Span),
    /// A number as written (kept as text so big and precise values are not rounded here).
    Number(String, Span),
    Ident(Identifier),
    Function {
        name: String,
        args: Vec<Operand>,
        span: Span,
    },
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Operand::Text(_, s) | Operand::Number(_, s) => *s,
            Operand::Ident(i) => i.span,
            Operand::Function { span, .. } => *span,
        }
    }
}

/// `left op right`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub left: Operand,
    pub op: Op,
    pub right: Operand,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Compare(Box<Comparison>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Number of comparisons (leaves).
    pub fn leaves(&self) -> usize {
        match self {
            Expr::Compare(_) => 1,
            Expr::And(a, b) | Expr::Or(a, b) => a.leaves() + b.leaves(),
        }
    }
}
