//! The registry: pass names → constructors, with the options each pass accepts, so a spec
//! string is checked completely (names, keys, values) before anything runs. Downstream crates
//! register their own passes and use them by name like the built-in ones.

use crate::spec::{ArgValue, PassSpec, parse_pipeline};
use crate::{Pass, PassError, Pipeline};
use std::collections::BTreeMap;

/// An option a pass accepts.
#[derive(Clone, Debug)]
pub struct OptionInfo {
    /// The key (`ratio`), or for a positional word, the word itself (`int8`).
    pub key: String,
    /// What it does, with its default.
    pub help: String,
}

impl OptionInfo {
    /// An option with its help text.
    pub fn new(key: impl Into<String>, help: impl Into<String>) -> OptionInfo {
        OptionInfo {
            key: key.into(),
            help: help.into(),
        }
    }
}

/// A pass as the registry lists it.
#[derive(Clone, Debug)]
pub struct PassInfo {
    /// The kebab-case name used in spec strings.
    pub name: String,
    /// One line saying what the pass does.
    pub help: String,
    /// Named options (`key=value`).
    pub options: Vec<OptionInfo>,
    /// Positional words the pass accepts (`quantize(int8)`).
    pub words: Vec<OptionInfo>,
}

impl PassInfo {
    /// A pass without options.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> PassInfo {
        PassInfo {
            name: name.into(),
            help: help.into(),
            options: Vec::new(),
            words: Vec::new(),
        }
    }

    /// Adds a named option.
    pub fn option(mut self, key: impl Into<String>, help: impl Into<String>) -> PassInfo {
        self.options.push(OptionInfo::new(key, help));
        self
    }

    /// Adds a positional word.
    pub fn word(mut self, word: impl Into<String>, help: impl Into<String>) -> PassInfo {
        self.words.push(OptionInfo::new(word, help));
        self
    }
}

/// Builds a pass from its checked arguments.
pub type Constructor = Box<dyn Fn(&PassArgs) -> Result<Box<dyn Pass>, PassError> + Send + Sync>;

struct Entry {
    info: PassInfo,
    make: Constructor,
}

/// Pass names → constructors.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl Registry {
    /// A registry without any pass.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// A registry with nnslim's built-in passes.
    pub fn with_builtins() -> Registry {
        let mut r = Registry::empty();
        crate::builtin::register(&mut r);
        r
    }

    /// Registers a pass; a name registered twice is an error.
    pub fn register(
        &mut self,
        info: PassInfo,
        make: impl Fn(&PassArgs) -> Result<Box<dyn Pass>, PassError> + Send + Sync + 'static,
    ) -> Result<(), PassError> {
        if self.entries.contains_key(&info.name) {
            return Err(PassError::Options {
                pass: info.name.clone(),
                message: "a pass with this name is already registered".into(),
            });
        }
        self.entries.insert(
            info.name.clone(),
            Entry {
                info,
                make: Box::new(make),
            },
        );
        Ok(())
    }

    /// Every registered pass, by name.
    pub fn passes(&self) -> impl Iterator<Item = &PassInfo> {
        self.entries.values().map(|e| &e.info)
    }

    /// A registered pass by name.
    pub fn info(&self, name: &str) -> Option<&PassInfo> {
        self.entries.get(name).map(|e| &e.info)
    }

    fn known(&self) -> String {
        self.entries.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Builds one pass from a parsed spec item, checking its name and options.
    pub fn build_one(&self, spec: &PassSpec) -> Result<Box<dyn Pass>, PassError> {
        let entry = self
            .entries
            .get(&spec.name)
            .ok_or_else(|| PassError::UnknownPass {
                name: spec.name.clone(),
                known: self.known(),
            })?;
        let args = PassArgs::check(&entry.info, spec)?;
        (entry.make)(&args)
    }

    /// Parses a spec string and builds every pass in it, so that any unknown name, key or bad
    /// value is reported before anything runs.
    pub fn build(&self, spec: &str) -> Result<Pipeline, PassError> {
        let mut p = Pipeline::new();
        for item in parse_pipeline(spec)? {
            let pass = self.build_one(&item)?;
            p.push_labeled(item.to_string(), pass);
        }
        Ok(p)
    }

    /// Help text listing every pass with its options.
    pub fn help(&self) -> String {
        let mut s = String::new();
        for e in self.entries.values() {
            let i = &e.info;
            s.push_str(&format!("  {:<26} {}\n", i.name, i.help));
            for o in i.words.iter().chain(&i.options) {
                s.push_str(&format!("      {:<22} {}\n", o.key, o.help));
            }
        }
        s
    }
}

/// The checked arguments of one spec item, with typed getters that report bad values.
#[derive(Clone, Debug)]
pub struct PassArgs {
    pass: String,
    words: Vec<String>,
    named: BTreeMap<String, ArgValue>,
}

impl PassArgs {
    /// Checks a spec item against a pass's options: unknown keys or words, repeated keys, and
    /// positional values that are not known words are errors listing what is known.
    pub fn check(info: &PassInfo, spec: &PassSpec) -> Result<PassArgs, PassError> {
        let err = |message: String| PassError::Options {
            pass: info.name.clone(),
            message,
        };
        let list = |v: &[OptionInfo]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|o| o.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut args = PassArgs {
            pass: info.name.clone(),
            words: Vec::new(),
            named: BTreeMap::new(),
        };
        for a in &spec.args {
            match &a.key {
                Some(k) => {
                    if !info.options.iter().any(|o| &o.key == k) {
                        return Err(err(format!(
                            "unknown option '{k}' (known: {})",
                            list(&info.options)
                        )));
                    }
                    if args.named.insert(k.clone(), a.value.clone()).is_some() {
                        return Err(err(format!("option '{k}' is given twice")));
                    }
                }
                None => {
                    let word = match &a.value {
                        ArgValue::Ident(w) if info.words.iter().any(|o| &o.key == w) => w.clone(),
                        v => {
                            return Err(err(format!(
                                "unknown argument '{v}' (known words: {}; options: {})",
                                list(&info.words),
                                list(&info.options)
                            )));
                        }
                    };
                    args.words.push(word);
                }
            }
        }
        Ok(args)
    }

    fn err(&self, message: String) -> PassError {
        PassError::Options {
            pass: self.pass.clone(),
            message,
        }
    }

    /// Positional words given, in order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether a positional word was given.
    pub fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    /// A raw named value.
    pub fn get(&self, key: &str) -> Option<&ArgValue> {
        self.named.get(key)
    }

    /// A number within `[min, max]`, or `default` when absent.
    pub fn number(&self, key: &str, default: f64, min: f64, max: f64) -> Result<f64, PassError> {
        match self.named.get(key) {
            None => Ok(default),
            Some(ArgValue::Number { value, .. }) if (min..=max).contains(value) => Ok(*value),
            Some(v) => Err(self.err(format!(
                "option '{key}' must be a number from {min} to {max}, not '{v}'"
            ))),
        }
    }

    /// A whole number within `[min, max]`, or `default` when absent.
    pub fn integer(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, PassError> {
        match self.named.get(key) {
            None => Ok(default),
            Some(ArgValue::Number { value, .. })
                if value.fract() == 0.0 && (min as f64..=max as f64).contains(value) =>
            {
                Ok(*value as u64)
            }
            Some(v) => Err(self.err(format!(
                "option '{key}' must be a whole number from {min} to {max}, not '{v}'"
            ))),
        }
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice(&self, key: &str, default: &str, choices: &[&str]) -> Result<String, PassError> {
        match self.named.get(key) {
            None => Ok(default.to_string()),
            Some(ArgValue::Ident(w)) if choices.contains(&w.as_str()) => Ok(w.clone()),
            Some(v) => Err(self.err(format!(
                "option '{key}' must be one of {}, not '{v}'",
                choices.join(", ")
            ))),
        }
    }

    /// `on`/`off` (also `true`/`false`, `yes`/`no`, `1`/`0`), or `default` when absent.
    pub fn switch(&self, key: &str, default: bool) -> Result<bool, PassError> {
        match self.named.get(key) {
            None => Ok(default),
            Some(v) => match v.to_string().as_str() {
                "on" | "true" | "yes" | "1" => Ok(true),
                "off" | "false" | "no" | "0" => Ok(false),
                _ => Err(self.err(format!("option '{key}' must be on or off, not '{v}'"))),
            },
        }
    }

    /// A pair `N:M` with `0 < N ≤ M`, or `None` when absent.
    pub fn pair(&self, key: &str) -> Result<Option<(u32, u32)>, PassError> {
        match self.named.get(key) {
            None => Ok(None),
            Some(ArgValue::Pair(n, m)) if *n > 0 && n <= m => Ok(Some((*n, *m))),
            Some(v) => Err(self.err(format!(
                "option '{key}' must be a pair N:M with 0 < N <= M, like 2:4, not '{v}'"
            ))),
        }
    }
}
