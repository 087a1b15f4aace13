//! Tokens of the text IR, with positions, and a cursor over them for the parsers.

use super::ParseError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_.]*`: keywords, dtypes, op types, attribute names, symbols.
    Ident(String),
    /// A number as written: `-?digits(.digits)?(e[+-]?digits)?`, or `-inf` / `-nan`.
    Num(String),
    /// A double-quoted string, unescaped (any bytes).
    Str(Vec<u8>),
    /// `%name` or `%"name"`.
    Value(String),
    /// `::`
    Path,
    /// One of `= , ( ) [ ] { } < > : ? * @ !`.
    Punct(char),
    Eof,
}

impl Tok {
    /// How the token is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Num(s) => format!("number {s}"),
            Tok::Str(b) => format!("string {}", super::quote(b)),
            Tok::Value(v) => format!("value %{v}"),
            Tok::Path => "'::'".into(),
            Tok::Punct(c) => format!("'{c}'"),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

const PUNCT: &str = "=,()[]{}<>:?*@!";

/// Splits text into tokens; `#` comments and whitespace are skipped.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        let err = |message: String| ParseError {
            line: start_line,
            col: start_col,
            message,
        };
        let start = i;
        let tok = if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        } else if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '"' {
            let (bytes, end) = string(&chars, i).map_err(|(at, m)| ParseError {
                line,
                col: col + (at - i),
                message: m,
            })?;
            i = end;
            Tok::Str(bytes)
        } else if c == '%' {
            i += 1;
            if chars.get(i) == Some(&'"') {
                let (bytes, end) = string(&chars, i).map_err(|(at, m)| ParseError {
                    line,
                    col: col + (at - start),
                    message: m,
                })?;
                i = end;
                let name = String::from_utf8(bytes)
                    .map_err(|_| err("a value name must be valid UTF-8".into()))?;
                Tok::Value(name)
            } else {
                let s = take_while(&chars, &mut i, |c| {
                    c.is_ascii() && super::is_name_byte(c as u8)
                });
                if s.is_empty() {
                    return Err(err("expected a value name after '%'".into()));
                }
                Tok::Value(s)
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(take_while(&chars, &mut i, |c| {
                c.is_ascii_alphanumeric() || c == '_' || c == '.'
            }))
        } else if c.is_ascii_digit() || ((c == '-' || c == '+') && i + 1 < chars.len()) {
            number(&chars, &mut i).ok_or_else(|| err(format!("unexpected character {c:?}")))?
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            i += 2;
            Tok::Path
        } else if PUNCT.contains(c) {
            i += 1;
            Tok::Punct(c)
        } else {
            return Err(err(format!("unexpected character {c:?}")));
        };
        col += i - start;
        toks.push(Token {
            tok,
            line: start_line,
            col: start_col,
        });
    }
    toks.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(toks)
}

fn take_while(chars: &[char], i: &mut usize, f: impl Fn(char) -> bool) -> String {
    let start = *i;
    while *i < chars.len() && f(chars[*i]) {
        *i += 1;
    }
    chars[start..*i].iter().collect()
}

/// A number starting at `*i` (an optional sign, digits, fraction, exponent; or a signed
/// `inf`/`nan`). `None` when there is no number there.
fn number(chars: &[char], i: &mut usize) -> Option<Tok> {
    let start = *i;
    let mut j = *i;
    if chars[j] == '-' || chars[j] == '+' {
        j += 1;
    }
    let word: String = chars[j..].iter().take(3).collect();
    if word == "inf" || word == "nan" {
        let after = chars.get(j + 3);
        if !after.is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            *i = j + 3;
            return Some(Tok::Num(chars[start..*i].iter().collect()));
        }
    }
    let digits = |j: &mut usize| {
        let s = *j;
        while *j < chars.len() && chars[*j].is_ascii_digit() {
            *j += 1;
        }
        *j > s
    };
    if !digits(&mut j) {
        return None;
    }
    if chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
        j += 1;
        digits(&mut j);
    }
    if matches!(chars.get(j), Some('e' | 'E')) {
        let mut k = j + 1;
        if matches!(chars.get(k), Some('-' | '+')) {
            k += 1;
        }
        if digits(&mut k) {
            j = k;
        }
    }
    *i = j;
    Some(Tok::Num(chars[start..j].iter().collect()))
}

/// A string literal starting at the quote `chars[i]`: its bytes and the index after the closing
/// quote. Errors carry the index of the problem.
fn string(chars: &[char], i: usize) -> Result<(Vec<u8>, usize), (usize, String)> {
    let mut out = Vec::new();
    let mut j = i + 1;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err((i, "unterminated string".into()));
        };
        match c {
            '"' => return Ok((out, j + 1)),
            '\n' => return Err((i, "unterminated string (a newline must be \\n)".into())),
            '\\' => {
                let e = chars.get(j + 1).copied();
                j += 2;
                match e {
                    Some('"') => out.push(b'"'),
                    Some('\\') => out.push(b'\\'),
                    Some('n') => out.push(b'\n'),
                    Some('t') => out.push(b'\t'),
                    Some('r') => out.push(b'\r'),
                    Some('x') => {
                        let hex: String = chars.get(j..j + 2).unwrap_or(&[]).iter().collect();
                        let b = u8::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 2)
                            .ok_or((j - 2, "\\x needs two hex digits".to_string()))?;
                        out.push(b);
                        j += 2;
                    }
                    _ => {
                        return Err((
                            j - 2,
                            "unknown escape (use \\\" \\\\ \\n \\t \\r \\xNN)".into(),
                        ));
                    }
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                j += 1;
            }
        }
    }
}

/// The maximum nesting of brackets, types and graphs the parsers accept (no stack overflow on
/// hostile input).
pub(crate) const MAX_DEPTH: usize = 64;

/// A position in the token list, with helpers that produce positioned errors.
pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
    pub depth: usize,
}

impl Cursor {
    pub fn new(text: &str) -> Result<Cursor, ParseError> {
        Ok(Cursor {
            toks: lex(text)?,
            pos: 0,
            depth: 0,
        })
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    pub fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    pub fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// The position of the next token, for errors reported later.
    pub fn mark(&self) -> (usize, usize) {
        let t = &self.toks[self.pos.min(self.toks.len() - 1)];
        (t.line, t.col)
    }

    pub fn err_at(&self, at: (usize, usize), message: impl Into<String>) -> ParseError {
        ParseError {
            line: at.0,
            col: at.1,
            message: message.into(),
        }
    }

    /// An error at the next token.
    pub fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.mark(), message)
    }

    /// "expected X, found Y" at the next token.
    pub fn expected(&self, what: &str) -> ParseError {
        self.err(format!("expected {what}, found {}", self.peek().describe()))
    }

    pub fn is_punct(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }

    pub fn is_ident(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }

    pub fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.next();
        }
        yes
    }

    pub fn eat_ident(&mut self, kw: &str) -> bool {
        let yes = self.is_ident(kw);
        if yes {
            self.next();
        }
        yes
    }

    pub fn expect_punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{c}'")))
        }
    }

    pub fn expect_ident(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_ident(kw) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{kw}'")))
        }
    }

    /// An identifier or a quoted (UTF-8) string: names of ops, domains, attributes.
    pub fn name(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            Tok::Str(b) => {
                let s =
                    String::from_utf8(b).map_err(|_| self.err(format!("{what} must be UTF-8")))?;
                self.next();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A quoted string's bytes.
    pub fn string(&mut self, what: &str) -> Result<Vec<u8>, ParseError> {
        match self.peek().clone() {
            Tok::Str(b) => {
                self.next();
                Ok(b)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A quoted UTF-8 string.
    pub fn utf8(&mut self, what: &str) -> Result<String, ParseError> {
        let at = self.mark();
        let b = self.string(what)?;
        String::from_utf8(b).map_err(|_| self.err_at(at, format!("{what} must be UTF-8")))
    }

    /// An integer that fits `i64`.
    pub fn int(&mut self, what: &str) -> Result<i64, ParseError> {
        match self.peek().clone() {
            Tok::Num(s) => {
                let v = s
                    .parse::<i64>()
                    .map_err(|_| self.err(format!("{what}: {s} is not a 64-bit integer")))?;
                self.next();
                Ok(v)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Enters one level of nesting; errors past [`MAX_DEPTH`]. Pair with [`Cursor::leave`].
    pub fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
