//! Positions of YAML nodes by path, for errors found after deserialisation.
//!
//! serde tells us where a *type* error is, but checks that need the whole
//! document (a duplicate name, a patch file that does not exist) happen after
//! parsing, when serde's positions are gone. This index re-reads the text with
//! an event parser and remembers where each node starts, keyed by a path such
//! as `variants[1].patches[0]`.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span, SpannedEventReceiver};

/// Where every key and value of a YAML document starts (1-based line, column).
#[derive(Debug, Default)]
pub struct YamlIndex {
    values: HashMap<String, (usize, usize)>,
    keys: HashMap<String, (usize, usize)>,
}

impl YamlIndex {
    /// Indexes `text`; a document that does not parse yields an empty index
    /// (its syntax error is reported by serde, with its own position).
    pub fn build(text: &str) -> YamlIndex {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return YamlIndex::default();
        }
        builder.index
    }

    /// The position of the value at `path`, or of its nearest indexed ancestor,
    /// or 1:1 when nothing matches.
    pub fn value(&self, path: &str) -> (usize, usize) {
        self.lookup(&self.values, path)
    }

    /// The position of the key that introduces `path` (for "unknown key" and
    /// "duplicate key" errors), falling back like [`YamlIndex::value`].
    pub fn key(&self, path: &str) -> (usize, usize) {
        if let Some(pos) = self.keys.get(path) {
            return *pos;
        }
        self.value(path)
    }

    fn lookup(&self, map: &HashMap<String, (usize, usize)>, path: &str) -> (usize, usize) {
        let mut current = path;
        loop {
            if let Some(pos) = map.get(current) {
                return *pos;
            }
            match parent_path(current) {
                Some(parent) => current = parent,
                None => return (1, 1),
            }
        }
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> `` -> None.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

enum Frame {
    Map { path: String, pending_key: Option<String> },
    Seq { path: String, next_index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: YamlIndex,
}

impl Builder {
    /// Decides the path of the node that starts now, or `None` when the node is
    /// a mapping key (whose text becomes the next value's last path segment).
    fn place_node(&mut self, scalar_text: Option<&str>, pos: (usize, usize)) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next_index }) => {
                let child = format!("{path}[{next_index}]");
                *next_index += 1;
                Some(child)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(join(path, &key)),
                None => {
                    // A key. Complex (non-scalar) keys are not used by modrig's
                    // files; they get a placeholder name so nesting stays right.
                    let key = scalar_text.unwrap_or("?").to_string();
                    self.index.keys.insert(join(path, &key), pos);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        let pos = (span.start.line(), span.start.col() + 1);
        match event {
            Event::Scalar(text, ..) => {
                if let Some(path) = self.place_node(Some(&text), pos) {
                    self.index.values.insert(path, pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.place_node(None, pos) {
                    self.index.values.insert(path, pos);
                }
            }
            Event::MappingStart(..) => {
                let path = self.place_node(None, pos).unwrap_or_default();
                self.index.values.insert(path.clone(), pos);
                self.stack.push(Frame::Map { path, pending_key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.place_node(None, pos).unwrap_or_default();
                self.index.values.insert(path.clone(), pos);
                self.stack.push(Frame::Seq { path, next_index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_keys_and_falls_back_to_ancestors() {
        let text = "variants:\n  - name: a\n    patches:\n      - x.patch\n  - name: b\n";
        let index = YamlIndex::build(text);
        assert_eq!(index.value("variants[0].name"), (2, 11));
        assert_eq!(index.key("variants[0].patches"), (3, 5));
        assert_eq!(index.value("variants[0].patches[0]"), (4, 9));
        assert_eq!(index.value("variants[1].name"), (5, 11));
        // Missing child: the nearest ancestor that exists.
        assert_eq!(index.value("variants[1].configs"), (5, 5));
        assert_eq!(index.value("nothing.here"), (1, 1));
    }

    #[test]
    fn broken_yaml_gives_an_empty_index_not_a_panic() {
        let index = YamlIndex::build("a: [1, 2\nb: {");
        assert_eq!(index.value("a"), (1, 1));
    }
}
