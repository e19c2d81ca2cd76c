//! A module as PyTorch prints it (`nn.Module.__repr__`), beside the tensor printer: the
//! lesson's models print their layers this way.

/// A module as PyTorch's `nn.Module.__repr__` prints it: `Name(extra)` for a leaf, else
/// `Name(` then each child as `  (key): child` and `)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleRepr {
    /// The class name (`Linear`).
    pub name: String,
    /// What `extra_repr` gives (`in_features=784, out_features=50, bias=True`).
    pub extra: String,
    /// The registered children, by name, in order.
    pub children: Vec<(String, ModuleRepr)>,
}

impl ModuleRepr {
    /// A module without children: `Name(extra)`.
    pub fn leaf(name: &str, extra: &str) -> Self {
        Self {
            name: name.into(),
            extra: extra.into(),
            children: Vec::new(),
        }
    }

    /// `nn.ReLU()`.
    pub fn relu() -> Self {
        Self::leaf("ReLU", "")
    }

    /// A module holding `children`, each printed as `(key): child`.
    pub fn with_children(name: &str, children: Vec<(String, ModuleRepr)>) -> Self {
        Self {
            name: name.into(),
            extra: String::new(),
            children,
        }
    }

    /// `repr(module)`.
    pub fn repr(&self) -> String {
        if self.children.is_empty() {
            return format!("{}({})", self.name, self.extra);
        }
        let mut lines = vec![format!("{}(", self.name)];
        for (key, child) in &self.children {
            // PyTorch's _addindent: lines after the first of a child move in by 2.
            let child = child.repr().replace('\n', "\n  ");
            lines.push(format!("  ({key}): {child}"));
        }
        lines.push(")".into());
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_printing_follows_pytorch() {
        let lin = |i: usize, o: usize| {
            ModuleRepr::leaf(
                "Linear",
                &format!("in_features={i}, out_features={o}, bias=True"),
            )
        };
        let list = ModuleRepr::with_children(
            "ModuleList",
            vec![
                ("0".into(), lin(784, 50)),
                ("1".into(), ModuleRepr::relu()),
                ("2".into(), lin(50, 10)),
            ],
        );
        let model = ModuleRepr::with_children("Model", vec![("layers".into(), list)]);
        assert_eq!(
            model.repr(),
            "Model(
  (layers): ModuleList(
    (0): Linear(in_features=784, out_features=50, bias=True)
    (1): ReLU()
    (2): Linear(in_features=50, out_features=10, bias=True)
  )
)"
        );
    }
}
