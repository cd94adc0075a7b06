//! Source text to tokens. Recovers from every error so the parser can
//! report its own errors in the same pass.

use crate::ast::Span;
use crate::error::Error;

/// A token kind; identifiers and literals carry their value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// Digits only; the sign is a separate `Minus` token.
    Int(u128),
    Str(String),
    True,
    False,
    In,
    AndAnd,
    OrOr,
    Bang,
    EqEq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    DotDot,
    Minus,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Str(s) => {
                let mut out = String::from("`");
                // Writing to a String cannot fail.
                let _ = crate::ast::write_str_literal(&mut out, s);
                out.push('`');
                out
            }
            Tok::Eof => "end of input".into(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::True => "true",
            Tok::False => "false",
            Tok::In => "in",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::DotDot => "..",
            Tok::Minus => "-",
            Tok::Ident(_) | Tok::Int(_) | Tok::Str(_) | Tok::Eof => "",
        }
    }
}

/// A token and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// Splits `src` into tokens, ending with `Eof`. Errors are pushed to
/// `errors`; the token stream is repaired so parsing can go on (`&` reads
/// as `&&`, `"x"` as `'x'`, an unknown character is skipped).
pub(crate) fn lex(src: &str, errors: &mut Vec<Error>) -> Vec<Token> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut chars = src.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let next = chars.peek().map(|&(_, c)| c);
        let one = |tok| Token { tok, span: Span::new(start, start + 1) };
        let two = |tok| Token { tok, span: Span::new(start, start + 2) };
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => one(Tok::LParen),
            ')' => one(Tok::RParen),
            '[' => one(Tok::LBracket),
            ']' => one(Tok::RBracket),
            ',' => one(Tok::Comma),
            '-' => one(Tok::Minus),
            '.' if next == Some('.') => {
                chars.next();
                two(Tok::DotDot)
            }
            '.' => one(Tok::Dot),
            '&' | '|' | '=' => {
                let (tok, _) = match c {
                    '&' => (Tok::AndAnd, ()),
                    '|' => (Tok::OrOr, ()),
                    _ => (Tok::EqEq, ()),
                };
                if next == Some(c) {
                    chars.next();
                    two(tok)
                } else {
                    errors.push(Error::UnexpectedChar { ch: c, span: Span::new(start, start + 1) });
                    one(tok)
                }
            }
            '!' | '<' | '>' => {
                if next == Some('=') {
                    chars.next();
                    two(match c {
                        '!' => Tok::Ne,
                        '<' => Tok::Le,
                        _ => Tok::Ge,
                    })
                } else {
                    one(match c {
                        '!' => Tok::Bang,
                        '<' => Tok::Lt,
                        _ => Tok::Gt,
                    })
                }
            }
            '\'' | '"' => {
                let mut value = String::new();
                let mut end = None;
                while let Some((i, ch)) = chars.next() {
                    if ch == c {
                        end = Some(i + 1);
                        break;
                    }
                    if ch == '\\' && c == '\'' {
                        match chars.peek().copied() {
                            Some((_, e @ ('\'' | '\\'))) => {
                                chars.next();
                                value.push(e);
                            }
                            Some((j, e)) => {
                                chars.next();
                                errors.push(Error::InvalidEscape {
                                    text: format!("\\{e}"),
                                    span: Span::new(i, j + e.len_utf8()),
                                });
                                value.push(e);
                            }
                            None => {}
                        }
                        continue;
                    }
                    value.push(ch);
                }
                let end = match end {
                    Some(end) => end,
                    None => {
                        errors.push(Error::UnterminatedString { span: Span::new(start, src.len()) });
                        src.len()
                    }
                };
                let span = Span::new(start, end);
                if c == '"' && end > start + 1 && bytes.get(end - 1) == Some(&b'"') {
                    errors.push(Error::DoubleQuotedString { text: span.text(src).to_owned(), span });
                }
                Token { tok: Tok::Str(value), span }
            }
            '0'..='9' => {
                let mut end = start + 1;
                while let Some(&(i, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        chars.next();
                        end = i + 1;
                    } else {
                        break;
                    }
                }
                let span = Span::new(start, end);
                let text = span.text(src);
                let tok = match text.parse::<u128>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        if text.bytes().all(|b| b.is_ascii_digit()) {
                            errors.push(Error::IntegerOutOfRange { text: text.to_owned(), span });
                        } else {
                            let (line, column) = crate::error::line_col(src, start);
                            errors.push(Error::Unexpected {
                                expected: "a number".into(),
                                found: format!("`{text}`"),
                                line,
                                column,
                                span,
                            });
                        }
                        Tok::Int(0)
                    }
                };
                Token { tok, span }
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' {
                        chars.next();
                        end = i + d.len_utf8();
                    } else {
                        break;
                    }
                }
                let span = Span::new(start, end);
                let tok = match span.text(src) {
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "in" => Tok::In,
                    word => Tok::Ident(word.to_owned()),
                };
                Token { tok, span }
            }
            other => {
                errors.push(Error::UnexpectedChar { ch: other, span: Span::new(start, start + other.len_utf8()) });
                continue;
            }
        };
        out.push(tok);
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(src.len(), src.len()) });
    out
}
