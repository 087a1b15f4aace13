//! Pass spec strings: `name(arg, key=value, ...)` items separated by top-level commas, e.g.
//! `fold,prune(ratio=0.8, method=sensitivity),quantize(int8, calib=percentile)`.
//!
//! A value is a number, an identifier (letters, digits, `_`, `-`, `.`; not starting with a
//! digit) or a pair `N:M`; there is no nesting. Whitespace between tokens is ignored.

use crate::PassError;
use std::fmt;

/// One argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// A number as written and as parsed.
    Number { text: String, value: f64 },
    /// An identifier such as `int8` or `sensitivity`.
    Ident(String),
    /// A pair such as `2:4`.
    Pair(u32, u32),
}

impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Number { text, .. } => f.write_str(text),
            ArgValue::Ident(s) => f.write_str(s),
            ArgValue::Pair(a, b) => write!(f, "{a}:{b}"),
        }
    }
}

/// One argument: positional (`int8`) or named (`ratio=0.5`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub key: Option<String>,
    pub value: ArgValue,
}

/// One pipeline item: a pass name and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct PassSpec {
    pub name: String,
    pub args: Vec<Arg>,
}

impl fmt::Display for PassSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.args.is_empty() {
            return Ok(());
        }
        f.write_str("(")?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if let Some(k) = &a.key {
                write!(f, "{k}=")?;
            }
            write!(f, "{}", a.value)?;
        }
        f.write_str(")")
    }
}

/// Parses a whole pipeline spec.
pub fn parse_pipeline(spec: &str) -> Result<Vec<PassSpec>, PassError> {
    let mut p = Parser {
        src: spec,
        chars: spec.char_indices().collect(),
        pos: 0,
    };
    let mut items = Vec::new();
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("empty pipeline: give at least one pass, e.g. 'fold'"));
    }
    loop {
        items.push(p.item()?);
        p.skip_ws();
        match p.peek() {
            None => break,
            Some(',') => p.pos += 1,
            Some(c) => return Err(p.error(&format!("expected ',' between passes, found '{c}'"))),
        }
    }
    Ok(items)
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, msg: &str) -> PassError {
        PassError::Spec(format!("'{}', column {}: {msg}", self.src, self.pos + 1))
    }

    fn item(&mut self) -> Result<PassSpec, PassError> {
        self.skip_ws();
        let name = self
            .ident()
            .ok_or_else(|| self.error("expected a pass name"))?;
        self.skip_ws();
        let mut args = Vec::new();
        if self.peek() == Some('(') {
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(')') {
                self.pos += 1;
                return Ok(PassSpec { name, args });
            }
            loop {
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some('(') => return Err(self.error("arguments do not nest")),
                    Some(c) => {
                        return Err(self.error(&format!("expected ',' or ')', found '{c}'")));
                    }
                    None => return Err(self.error(&format!("missing ')' after {name}("))),
                }
            }
        }
        Ok(PassSpec { name, args })
    }

    fn arg(&mut self) -> Result<Arg, PassError> {
        self.skip_ws();
        let start = self.pos;
        if let Some(word) = self.ident() {
            self.skip_ws();
            if self.peek() == Some('=') {
                self.pos += 1;
                self.skip_ws();
                let value = self.value()?;
                return Ok(Arg {
                    key: Some(word),
                    value,
                });
            }
            self.pos = start;
        }
        Ok(Arg {
            key: None,
            value: self.value()?,
        })
    }

    fn value(&mut self) -> Result<ArgValue, PassError> {
        if let Some(word) = self.ident() {
            return Ok(ArgValue::Ident(word));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
        {
            // An exponent sign belongs to the number; any other sign only at the start.
            let c = self.peek();
            if matches!(c, Some('+' | '-')) && self.pos > start {
                let prev = self.chars[self.pos - 1].1;
                if !matches!(prev, 'e' | 'E') {
                    break;
                }
            }
            self.pos += 1;
        }
        let text = self.slice(start, self.pos);
        if text.is_empty() {
            return Err(match self.peek() {
                Some(c) => self.error(&format!(
                    "expected a value (number, identifier or N:M), found '{c}'"
                )),
                None => self.error("expected a value (number, identifier or N:M)"),
            });
        }
        if self.peek() == Some(':') {
            self.pos += 1;
            let s2 = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            let second = self.slice(s2, self.pos);
            return match (text.parse::<u32>(), second.parse::<u32>()) {
                (Ok(a), Ok(b)) => Ok(ArgValue::Pair(a, b)),
                _ => Err(self.error(&format!(
                    "'{text}:{second}' is not a pair of whole numbers like 2:4"
                ))),
            };
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(ArgValue::Number { text, value }),
            _ => Err(self.error(&format!("'{text}' is not a number"))),
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.pos += 1,
            _ => return None,
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.pos += 1;
        }
        Some(self.slice(start, self.pos))
    }

    fn slice(&self, a: usize, b: usize) -> String {
        let start = self.chars.get(a).map_or(self.src.len(), |&(i, _)| i);
        let end = self.chars.get(b).map_or(self.src.len(), |&(i, _)| i);
        self.src[start..end].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> ArgValue {
        ArgValue::Number {
            text: text.into(),
            value: text.parse().unwrap(),
        }
    }

    #[test]
    fn parses_the_contract_example() {
        let spec = "fold,prune(ratio=0.8, method=sensitivity),low-rank(energy=0.95),\
                    quantize(int8, calib=percentile, percentile=99.99),sparsify";
        let items = parse_pipeline(spec).unwrap();
        let names: Vec<&str> = items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fold", "prune", "low-rank", "quantize", "sparsify"]);
        assert_eq!(items[1].args[0].key.as_deref(), Some("ratio"));
        assert_eq!(items[1].args[0].value, num("0.8"));
        assert_eq!(
            items[1].args[1].value,
            ArgValue::Ident("sensitivity".into())
        );
        assert_eq!(items[3].args[0].key, None);
        assert_eq!(items[3].args[0].value, ArgValue::Ident("int8".into()));
        assert_eq!(items[3].args[2].value, num("99.99"));
        assert_eq!(
            items.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            [
                "fold",
                "prune(ratio=0.8, method=sensitivity)",
                "low-rank(energy=0.95)",
                "quantize(int8, calib=percentile, percentile=99.99)",
                "sparsify"
            ]
        );
    }

    #[test]
    fn parses_pairs_signs_and_exponents() {
        let items = parse_pipeline(" prune( pattern = 2:4 , bias=-1.5e-3 ) , x() ").unwrap();
        assert_eq!(items[0].args[0].value, ArgValue::Pair(2, 4));
        assert_eq!(items[0].args[1].value, num("-1.5e-3"));
        assert!(items[1].args.is_empty());
    }

    #[test]
    fn rejects_bad_specs_with_a_position() {
        for (spec, needle) in [
            ("", "empty pipeline"),
            ("fold,", "expected a pass name"),
            ("prune(ratio=)", "expected a value"),
            ("prune(ratio=0.5", "missing ')'"),
            ("prune(a=(1))", "expected a value"),
            ("prune(pattern=2:x)", "pair"),
            ("prune(ratio=1.2.3)", "not a number"),
            ("fold prune", "expected ','"),
            ("prune(ratio=1e999)", "not a number"),
        ] {
            let e = parse_pipeline(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec:?}: {e}");
            assert!(e.contains("column"), "{spec:?}: {e}");
        }
    }
}
