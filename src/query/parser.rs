//! Lexer and recursive-descent parser for filter expressions.
//!
//! Bounded by construction: at most [`MAX_LENGTH`] bytes, [`MAX_LEAVES`] comparisons,
//! [`MAX_DEPTH`] nested parentheses (checked before recursing, so 10,000 `(` is an error,
//! not a stack overflow) and function calls nested [`MAX_FUNCTION_DEPTH`] deep.

use super::ast::{Comparison, Expr, Identifier, Op, Operand, Span};
use super::QueryError;

pub const MAX_LENGTH: usize = 3500;
pub const MAX_LEAVES: usize = 200;
pub const MAX_DEPTH: usize = 32;
pub const MAX_FUNCTION_DEPTH: usize = 2;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Op(Op),
    Text(String),
    Number(String),
    Ident(String),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn err(message: impl Into<String>, start: usize, end: usize) -> QueryError {
    QueryError::new(message, Span::new(start, end))
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@' || c == '#'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == ':'
}

impl<'a> Lexer<'a> {
    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            let rest = &self.src[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    /// The next token with its span, or `None` at the end.
    fn next(&mut self) -> Result<Option<(Token, Span)>, QueryError> {
        self.skip_space_and_comments();
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(None);
        };
        let rest = &self.src[self.pos..];
        let two = rest.get(..2).unwrap_or("");
        let three = rest.get(..3).unwrap_or("");
        let (token, len) = match c {
            '(' => (Token::LParen, 1),
            ')' => (Token::RParen, 1),
            ',' => (Token::Comma, 1),
            '&' if two == "&&" => (Token::And, 2),
            '|' if two == "||" => (Token::Or, 2),
            '?' => match three {
                "?!=" => (Token::Op(Op::AnyNeq), 3),
                "?>=" => (Token::Op(Op::AnyGte), 3),
                "?<=" => (Token::Op(Op::AnyLte), 3),
                "?!~" => (Token::Op(Op::AnyNotLike), 3),
                _ => match two {
                    "?=" => (Token::Op(Op::AnyEq), 2),
                    "?>" => (Token::Op(Op::AnyGt), 2),
                    "?<" => (Token::Op(Op::AnyLt), 2),
                    "?~" => (Token::Op(Op::AnyLike), 2),
                    _ => return Err(err("unknown operator", start, start + 1)),
                },
            },
            '!' => match two {
                "!=" => (Token::Op(Op::Neq), 2),
                "!~" => (Token::Op(Op::NotLike), 2),
                _ => return Err(err("unknown operator", start, start + 1)),
            },
            '>' if two == ">=" => (Token::Op(Op::Gte), 2),
            '>' => (Token::Op(Op::Gt), 1),
            '<' if two == "<=" => (Token::Op(Op::Lte), 2),
            '<' => (Token::Op(Op::Lt), 1),
            '=' => (Token::Op(Op::Eq), 1),
            '~' => (Token::Op(Op::Like), 1),
            '\'' | '"' => return self.text(c).map(Some),
            '-' | '0'..='9' => return self.number().map(Some),
            c if is_ident_start(c) => {
                let first = c.len_utf8();
                let len = first
                    + rest[first..]
                        .find(|ch: char| !is_ident_char(ch))
                        .unwrap_or(rest.len() - first);
                (Token::Ident(rest[..len].to_owned()), len)
            }
            _ => {
                return Err(err(
                    format!("unexpected character {c:?}"),
                    start,
                    start + c.len_utf8(),
                ))
            }
        };
        self.pos += len;
        Ok(Some((token, Span::new(start, self.pos))))
    }

    fn text(&mut self, quote: char) -> Result<(Token, Span), QueryError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some((_, q)) if q == quote => out.push(q),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                }
            } else if c == quote {
                self.pos = start + 1 + i + 1;
                return Ok((Token::Text(out), Span::new(start, self.pos)));
            } else {
                out.push(c);
            }
        }
        Err(err(
            "unterminated text (missing closing quote)",
            start,
            self.src.len(),
        ))
    }

    fn number(&mut self) -> Result<(Token, Span), QueryError> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start;
        if bytes[i] == b'-' {
            i += 1;
        }
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(err("a number needs digits", start, i.max(start + 1)));
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == frac {
                return Err(err("a number cannot end with '.'", start, i));
            }
        }
        if i < bytes.len()
            && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' || bytes[i] == b'.')
        {
            return Err(err("invalid number", start, i + 1));
        }
        self.pos = i;
        Ok((
            Token::Number(self.src[start..i].to_owned()),
            Span::new(start, i),
        ))
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Option<(Token, Span)>>,
    leaves: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<Option<&(Token, Span)>, QueryError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        Ok(self.peeked.as_ref().and_then(|p| p.as_ref()))
    }

    fn bump(&mut self) -> Result<Option<(Token, Span)>, QueryError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next(),
        }
    }

    fn end(&self) -> Span {
        Span::new(self.lexer.src.len(), self.lexer.src.len())
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.and_expr(depth)?;
        while matches!(self.peek()?, Some((Token::Or, _))) {
            self.bump()?;
            let right = self.and_expr(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.term(depth)?;
        while matches!(self.peek()?, Some((Token::And, _))) {
            self.bump()?;
            let right = self.term(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if let Some((Token::LParen, span)) = self.peek()? {
            let span = *span;
            if depth >= MAX_DEPTH {
                return Err(QueryError::new(
                    format!("expression nested deeper than {MAX_DEPTH} parentheses"),
                    span,
                ));
            }
            self.bump()?;
            let inner = self.or_expr(depth + 1)?;
            match self.bump()? {
                Some((Token::RParen, _)) => return Ok(inner),
                Some((_, s)) => return Err(QueryError::new("expected ')'", s)),
                None => return Err(QueryError::new("missing ')'", self.end())),
            }
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.operand(0)?;
        let op = match self.bump()? {
            Some((Token::Op(op), _)) => op,
            Some((_, s)) => {
                return Err(QueryError::new(
                    "expected an operator (=, !=, >, ~, ?=, …)",
                    s,
                ))
            }
            None => {
                return Err(QueryError::new(
                    "expected an operator after the operand",
                    self.end(),
                ))
            }
        };
        let right = self.operand(0)?;
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(QueryError::new(
                format!("more than {MAX_LEAVES} comparisons"),
                right.span(),
            ));
        }
        let span = Span::new(left.span().start, right.span().end);
        Ok(Expr::Compare(Box::new(Comparison {
            left,
            op,
            right,
            span,
        })))
    }

    fn operand(&mut self, fn_depth: usize) -> Result<Operand, QueryError> {
        let Some((token, span)) = self.bump()? else {
            return Err(QueryError::new("expected an operand", self.end()));
        };
        match token {
            Token::Text(t) => Ok(Operand::Text(t, span)),
            Token::Number(n) => Ok(Operand::Number(n, span)),
            Token::Ident(name) => {
                if matches!(self.peek()?, Some((Token::LParen, _))) {
                    return self.function(name, span, fn_depth);
                }
                Ok(Operand::Ident(identifier(name, span)?))
            }
            _ => Err(QueryError::new(
                "expected a field, text, number or function",
                span,
            )),
        }
    }

    fn function(
        &mut self,
        name: String,
        start: Span,
        fn_depth: usize,
    ) -> Result<Operand, QueryError> {
        if fn_depth >= MAX_FUNCTION_DEPTH {
            return Err(QueryError::new(
                format!("functions nest at most {MAX_FUNCTION_DEPTH} deep"),
                start,
            ));
        }
        self.bump()?; // (
        let mut args = Vec::new();
        loop {
            if let Some((Token::RParen, s)) = self.peek()? {
                let end = s.end;
                self.bump()?;
                return Ok(Operand::Function {
                    name,
                    args,
                    span: Span::new(start.start, end),
                });
            }
            if args.len() >= 16 {
                return Err(QueryError::new("too many function arguments", start));
            }
            args.push(self.operand(fn_depth + 1)?);
            match self.peek()? {
                Some((Token::Comma, _)) => {
                    self.bump()?;
                }
                Some((Token::RParen, _)) => {}
                Some((_, s)) => return Err(QueryError::new("expected ',' or ')'", *s)),
                None => return Err(QueryError::new("missing ')'", self.end())),
            }
        }
    }
}

/// Split an identifier into its path, `@collection` alias and modifier.
fn identifier(raw: String, span: Span) -> Result<Identifier, QueryError> {
    let segments: Vec<&str> = raw.split('.').collect();
    let mut path = Vec::with_capacity(segments.len());
    let mut modifier = None;
    let mut alias = None;
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        let (name, suffix) = match seg.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (*seg, None),
        };
        if name.is_empty() {
            return Err(QueryError::new(format!("invalid identifier {raw:?}"), span));
        }
        if let Some(suffix) = suffix {
            if suffix.is_empty() || suffix.contains(':') {
                return Err(QueryError::new(
                    format!("invalid modifier in {raw:?}"),
                    span,
                ));
            }
            if i == last {
                modifier = Some(suffix.to_owned());
            } else if i == 1 && segments[0] == "@collection" {
                alias = Some(suffix.to_owned());
            } else {
                return Err(QueryError::new(
                    format!("a modifier may only end an identifier: {raw:?}"),
                    span,
                ));
            }
        }
        path.push(name.to_owned());
    }
    Ok(Identifier {
        raw,
        path,
        modifier,
        alias,
        span,
    })
}

/// Parse a filter expression.
pub fn parse(src: &str) -> Result<Expr, QueryError> {
    if let Some(at) = src.find('\0') {
        return Err(QueryError::new(
            "NUL characters are not allowed",
            Span::new(at, at + 1),
        ));
    }
    if src.len() > MAX_LENGTH {
        return Err(QueryError::new(
            format!("longer than {MAX_LENGTH} characters"),
            Span::new(MAX_LENGTH, src.len()),
        ));
    }
    let mut p = Parser {
        lexer: Lexer { src, pos: 0 },
        peeked: None,
        leaves: 0,
    };
    if p.peek()?.is_none() {
        return Err(QueryError::new("empty expression", Span::new(0, src.len())));
    }
    let expr = p.or_expr(0)?;
    match p.bump()? {
        None => Ok(expr),
        Some((Token::RParen, s)) => Err(QueryError::new("unbalanced ')'", s)),
        Some((_, s)) => Err(QueryError::new("expected && or || between comparisons", s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(src: &str) -> (Operand, Op, Operand) {
        match parse(src).unwrap() {
            Expr::Compare(c) => (c.left, c.op, c.right),
            other => panic!("{other:?}"),
        }
    }

    fn ident(o: &Operand) -> &Identifier {
        match o {
            Operand::Ident(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_operator_parses() {
        for op in [
            Op::Eq,
            Op::Neq,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::Like,
            Op::NotLike,
            Op::AnyEq,
            Op::AnyNeq,
            Op::AnyGt,
            Op::AnyGte,
            Op::AnyLt,
            Op::AnyLte,
            Op::AnyLike,
            Op::AnyNotLike,
        ] {
            let (_, parsed, _) = cmp(&format!("a {} 1", op.as_str()));
            assert_eq!(parsed, op);
            let (_, tight, _) = cmp(&format!("a{}1", op.as_str()));
            assert_eq!(tight, op, "no spaces needed");
        }
    }

    #[test]
    fn literals_identifiers_and_modifiers() {
        let (l, _, r) = cmp(r#"title = "With \"files\" and 'single'""#);
        assert_eq!(ident(&l).path, ["title"]);
        assert_eq!(
            r,
            Operand::Text("With \"files\" and 'single'".into(), Span::new(8, 37))
        );
        let (_, _, r) = cmp(r"a = 'it\'s \d'");
        assert!(matches!(r, Operand::Text(ref t, _) if t == r"it's \d"));
        let (_, _, r) = cmp("a > -1.5");
        assert!(matches!(r, Operand::Number(ref n, _) if n == "-1.5"));
        let (l, _, _) = cmp("@request.body.tags:length > 1");
        let l = ident(&l);
        assert_eq!(l.path, ["@request", "body", "tags"]);
        assert_eq!(l.modifier.as_deref(), Some("length"));
        let (l, _, _) = cmp("@collection.comments:c.post ?= id");
        let l = ident(&l);
        assert_eq!(l.path, ["@collection", "comments", "post"]);
        assert_eq!(l.alias.as_deref(), Some("c"));
        let (l, _, r) = cmp("created >= @todayStart");
        assert_eq!(ident(&l).raw, "created");
        assert_eq!(ident(&r).path, ["@todayStart"]);
    }

    #[test]
    fn and_binds_tighter_than_or_and_parens_group() {
        let e = parse("a = 1 || b = 2 && c = 3").unwrap();
        assert!(matches!(e, Expr::Or(_, ref r) if matches!(**r, Expr::And(_, _))));
        let e = parse("(a = 1 || b = 2) && c = 3").unwrap();
        assert!(matches!(e, Expr::And(ref l, _) if matches!(**l, Expr::Or(_, _))));
        assert_eq!(parse("((a = 1))").unwrap().leaves(), 1);
    }

    #[test]
    fn comments_and_functions() {
        let e = parse("a = 1 // trailing comment\n && b = 2 // and another").unwrap();
        assert_eq!(e.leaves(), 2);
        let (l, _, _) = cmp("geoDistance(lon, lat, 23.5, 42.1,) < 25");
        assert!(
            matches!(l, Operand::Function { ref name, ref args, .. } if name == "geoDistance" && args.len() == 4)
        );
        let (l, _, _) = cmp("strftime('%Y', published_at) = '2024'");
        assert!(matches!(l, Operand::Function { ref args, .. } if args.len() == 2));
    }

    #[test]
    fn errors_carry_their_position() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("title", 5),
            ("title =", 7),
            ("a = 'open", 4),
            ("a = 1 b = 2", 6),
            ("a = 1 &&", 8),
            ("(a = 1", 6),
            ("a = 1)", 5),
            ("a $ 1", 2),
            ("a ! 1", 2),
            ("a = 1.", 4),
            ("a = .5", 4),
            ("a = 12abc", 4),
            ("a.:x = 1", 0),
            ("a:b.c = 1", 0),
            ("f(g(h(1))) = 1", 4),
            ("&& a = 1", 0),
        ];
        for (src, at) in cases {
            let e = parse(src).expect_err(src);
            assert_eq!(e.span.start, *at, "{src:?}: {e}");
        }
    }

    #[test]
    fn limits_are_errors_not_crashes() {
        let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let ok = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let many = vec!["a = 1"; MAX_LEAVES + 1].join(" && ");
        assert!(parse(&many).unwrap_err().message.contains("comparisons"));
        let fine = vec!["a=1"; MAX_LEAVES].join("&&");
        assert!(parse(&fine).is_ok());
        assert!(parse(&"x".repeat(MAX_LENGTH + 1)).is_err());
    }
}

#[cfg(test)]
mod never_panics {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = super::parse(&text);
        }

        #[test]
        fn on_filter_like_text(text in r#"[a-z@._:()'"\\!=<>?~&| 0-9,-]{0,200}"#) {
            if let Err(e) = super::parse(&text) {
                prop_assert!(e.span.start <= text.len() && e.span.end <= text.len().max(e.span.start));
            }
        }
    }
}
