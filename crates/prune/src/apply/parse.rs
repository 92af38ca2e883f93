//! A [`Request`] from text: the method, criterion, rate, pattern and width axes as `p2law prune`'s flags and
//! a sweep recipe's `[prune]` give them, parsed by one function ([`Request::parse`]) so that both accept and
//! refuse the same values. An error says which field is wrong ([`RequestError::field`]); each caller names
//! that field its own way (a flag, a recipe key).

use super::{Method, Request, WidthAxes};
use crate::error::PruneError;
use crate::nm::NmPattern;

/// The methods, by name.
pub const METHODS: [&str; 4] = ["depth", "width", "nm", "unstructured"];

/// The sparse methods' criterion when none is named.
pub const DEFAULT_CRITERION: &str = "wanda";

/// A request as text, before parsing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpec<'a> {
    /// One of [`METHODS`].
    pub method: &'a str,
    /// Sparse methods: magnitude, wanda or sparsegpt (default [`DEFAULT_CRITERION`]). Depth scores by
    /// Block Influence and width by activation importance: naming those is allowed, any other is an error.
    pub criterion: Option<&'a str>,
    /// Target rate; optional for nm (default: the pattern's own rate).
    pub rate: Option<f64>,
    /// N:M pattern of nm (default 2:4).
    pub pattern: Option<&'a str>,
    /// Depth: remove one run of consecutive layers.
    pub contiguous: bool,
    /// Width: the axes to narrow (default hidden).
    pub width_axes: Option<&'a str>,
}

/// The field of a [`RequestSpec`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestField {
    Method,
    Criterion,
    Rate,
    Pattern,
    WidthAxes,
}

/// Why a [`RequestSpec`] does not parse. The messages do not name the field: the caller does, with
/// [`RequestError::field`].
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("unknown method {0:?}; use depth, width, nm or unstructured")]
    UnknownMethod(String),
    #[error("{criterion:?} does not apply to method {method}; it scores by {allowed}")]
    CriterionDoesNotApply { criterion: String, method: &'static str, allowed: &'static str },
    #[error("method {0} needs a rate")]
    RateMissing(&'static str),
    #[error("{0}")]
    Criterion(PruneError),
    #[error("{0}")]
    Pattern(PruneError),
    #[error("{0}")]
    WidthAxes(PruneError),
}

impl RequestError {
    /// The field at fault.
    pub fn field(&self) -> RequestField {
        match self {
            RequestError::UnknownMethod(_) => RequestField::Method,
            RequestError::CriterionDoesNotApply { .. } | RequestError::Criterion(_) => {
                RequestField::Criterion
            }
            RequestError::RateMissing(_) => RequestField::Rate,
            RequestError::Pattern(_) => RequestField::Pattern,
            RequestError::WidthAxes(_) => RequestField::WidthAxes,
        }
    }
}

impl Request {
    /// Parses `spec`; only the fields its method uses are read (no model is needed: [`Request::check`]
    /// then fits the request to a config).
    pub fn parse(spec: &RequestSpec) -> Result<Request, RequestError> {
        let sparse_criterion =
            || crate::by_name(spec.criterion.unwrap_or(DEFAULT_CRITERION)).map_err(RequestError::Criterion);
        let only = |method: &'static str, allowed: &'static str| match spec.criterion {
            Some(c) if c != allowed => {
                Err(RequestError::CriterionDoesNotApply { criterion: c.into(), method, allowed })
            }
            _ => Ok(()),
        };
        let method = match spec.method {
            "depth" => {
                only("depth", "block-influence")?;
                Method::Depth { contiguous: spec.contiguous }
            }
            "width" => {
                only("width", "activation")?;
                let axes = match spec.width_axes {
                    Some(a) => a.parse::<WidthAxes>().map_err(RequestError::WidthAxes)?,
                    None => WidthAxes::default(),
                };
                Method::Width { axes }
            }
            "nm" => {
                let pattern = match spec.pattern {
                    Some(p) => p.parse::<NmPattern>().map_err(RequestError::Pattern)?,
                    None => NmPattern::default(),
                };
                Method::Nm { pattern, criterion: sparse_criterion()? }
            }
            "unstructured" => Method::Unstructured { criterion: sparse_criterion()? },
            other => return Err(RequestError::UnknownMethod(other.into())),
        };
        let rate = match (spec.rate, &method) {
            (Some(r), _) => r,
            (None, Method::Nm { pattern, .. }) => pattern.rate(),
            (None, m) => return Err(RequestError::RateMissing(m.name())),
        };
        Ok(Request { method, rate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: RequestSpec) -> Result<Request, RequestError> {
        Request::parse(&spec)
    }

    #[test]
    fn defaults_fill_what_the_method_needs() {
        let nm = parse(RequestSpec { method: "nm", ..Default::default() }).unwrap();
        assert_eq!((nm.method.name(), nm.method.criterion(), nm.rate), ("nm", "wanda", 0.5));
        let width = parse(RequestSpec { method: "width", rate: Some(0.3), ..Default::default() }).unwrap();
        assert!(matches!(width.method, Method::Width { axes } if axes == WidthAxes::default()));
        let spec = RequestSpec {
            method: "depth",
            criterion: Some("block-influence"),
            rate: Some(0.25),
            pattern: Some("not used by depth"),
            contiguous: true,
            ..Default::default()
        };
        assert!(matches!(parse(spec).unwrap().method, Method::Depth { contiguous: true }));
    }

    #[test]
    fn each_error_names_its_field() {
        let cases: [(RequestSpec, RequestField, &str); 6] = [
            (RequestSpec { method: "deep", ..Default::default() }, RequestField::Method, "use depth, width"),
            (
                RequestSpec {
                    method: "depth",
                    criterion: Some("wanda"),
                    rate: Some(0.2),
                    ..Default::default()
                },
                RequestField::Criterion,
                "it scores by block-influence",
            ),
            (
                RequestSpec {
                    method: "unstructured",
                    criterion: Some("obs"),
                    rate: Some(0.2),
                    ..Default::default()
                },
                RequestField::Criterion,
                "unknown pruning criterion",
            ),
            (RequestSpec { method: "width", ..Default::default() }, RequestField::Rate, "needs a rate"),
            (
                RequestSpec { method: "nm", pattern: Some("4:2"), ..Default::default() },
                RequestField::Pattern,
                "4:2",
            ),
            (
                RequestSpec {
                    method: "width",
                    rate: Some(0.2),
                    width_axes: Some("tall"),
                    ..Default::default()
                },
                RequestField::WidthAxes,
                "unknown axis `tall`",
            ),
        ];
        for (spec, field, want) in cases {
            let e = parse(spec).err().unwrap();
            assert_eq!(e.field(), field, "{e}");
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
    }
}
