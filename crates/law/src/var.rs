//! The variables a law may use (`docs/spec/law.md`), in a fixed order so that a row of data is a plain
//! `[f64; 6]` and expressions address variables by index.

/// A law variable. `Var as usize` indexes a [`crate::Point`]'s `vars` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// Parameters before pruning.
    N0 = 0,
    /// Parameters after pruning (`n0 * (1 - rho)` when a curve file leaves it out).
    N = 1,
    /// Pruning rate in (0, 1).
    Rho = 2,
    /// Loss of the unpruned model on the same held-out data.
    L0 = 3,
    /// Post-training tokens seen (> 0).
    D = 4,
    /// Observed loss (the target; usable in `where:` predicates, not in laws).
    Loss = 5,
}

/// All variables, in index order.
pub const VARS: [Var; 6] = [Var::N0, Var::N, Var::Rho, Var::L0, Var::D, Var::Loss];

impl Var {
    /// The name used in curve files and expressions.
    pub fn name(self) -> &'static str {
        match self {
            Var::N0 => "n0",
            Var::N => "n",
            Var::Rho => "rho",
            Var::L0 => "l0",
            Var::D => "d",
            Var::Loss => "loss",
        }
    }

    /// Looks a variable up by its name.
    pub fn from_name(name: &str) -> Option<Var> {
        VARS.into_iter().find(|v| v.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_index_order() {
        for (i, v) in VARS.into_iter().enumerate() {
            assert_eq!(v as usize, i);
            assert_eq!(Var::from_name(v.name()), Some(v));
        }
        assert_eq!(Var::from_name("gamma"), None);
    }
}
