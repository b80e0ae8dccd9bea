//! The review checkpoint as data: where a waiting output is routed by why it waits (and
//! who owns that route, and by when), the change a reviewer may ask for in a retry, and
//! the receipt a downstream stage gives. No transport, runner or store: the doors and
//! `review::` act on these.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckName, Timestamp};
use crate::spec::{Align, Enclosed, Spec, TreatAs};

/// One route a waiting output can take: the checks that send it there, who owns it, what
/// they do, and how long they have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `supplier`, `retouch`, `review`, ...: the next actor's name in handoffs.
    pub name: String,
    /// Causes that send an output here; empty for the route that takes all others.
    #[serde(default)]
    pub checks: Vec<CheckName>,
    /// Who answers for this route (a team, a person, an address).
    pub owner: String,
    /// What the owner does, in one sentence.
    pub action: String,
    /// Hours from when an output starts waiting to when it is overdue.
    pub due_hours: f64,
}

/// Routes in order: the first whose checks include a cause of the output takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub routes: Vec<Route>,
}

impl Default for Routing {
    fn default() -> Routing {
        use CheckName::*;
        let route = |name: &str, checks: Vec<CheckName>, owner: &str, action: &str, due| Route {
            name: name.into(),
            checks,
            owner: owner.into(),
            action: action.into(),
            due_hours: due,
        };
        Routing {
            routes: vec![
                route(
                    "supplier",
                    vec![Upscale, CutOff],
                    "supplier",
                    "supply a larger original, or one with the whole product in the frame; or approve it as it is",
                    72.0,
                ),
                route(
                    "retouch",
                    vec![PlainBackground, CutoutSource, BackgroundPurity, BorderPurity, ShadowToEdge, FrameLine, TextOrLogo],
                    "retouch",
                    "remove the background (or the shadow, frame, text or speck beside the product) and drop the cut-out in again, or approve it as it is",
                    48.0,
                ),
                route(
                    "review",
                    Vec::new(),
                    "review",
                    "look at the image and approve it or reject it",
                    24.0,
                ),
            ],
        }
    }
}

impl Routing {
    /// The route for an output waiting because of `causes` (in the order the checks ran).
    pub fn route_for(&self, causes: &[CheckName]) -> Route {
        self.routes
            .iter()
            .find(|r| r.checks.iter().any(|c| causes.contains(c)))
            .or_else(|| self.routes.iter().find(|r| r.checks.is_empty()))
            .cloned()
            .unwrap_or_else(|| Routing::default().routes.remove(2))
    }
}

/// A change a reviewer asks for when retrying one output; recorded in its handoff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The share of the frame the product fills (0.05-1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub align: Option<Align>,
    /// The largest enlargement allowed (1-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upscale: Option<f64>,
    /// Take the source as a cut-out or as a scene, whatever it looks like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub treat_as: Option<TreatAs>,
    /// What the areas the product encloses in the backdrop's colour are: `clear` (the
    /// backdrop showing through a handle or a gap) or `keep` (a part of the product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub enclosed: Option<Enclosed>,
}

impl Override {
    pub fn is_empty(&self) -> bool {
        *self == Override::default()
    }

    /// The spec with this change made, or what is out of range.
    pub fn apply(&self, spec: &Spec) -> Result<Spec, String> {
        let mut s = spec.clone();
        if let Some(f) = self.fill_ratio {
            if !(0.05..=1.0).contains(&f) {
                return Err(format!("fill_ratio {f} is outside 0.05-1.0"));
            }
            s.fill_ratio = f;
            s.min_fill_ratio = Some((f - 0.01).max(0.0));
        }
        if let Some(a) = self.align {
            s.align = a;
        }
        if let Some(u) = self.max_upscale {
            if !(1.0..=8.0).contains(&u) {
                return Err(format!("max_upscale {u} is outside 1-8"));
            }
            s.max_upscale = u;
        }
        if self.treat_as.is_some() {
            s.treat_as = self.treat_as;
        }
        if self.enclosed.is_some() {
            s.enclosed = self.enclosed;
        }
        Ok(s)
    }

    /// The change in words, for the history (`fill 0.7, upscale up to 3x`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.fill_ratio {
            parts.push(format!("fill {f}"));
        }
        if let Some(a) = self.align {
            parts.push(format!(
                "align {}",
                if a == Align::Bottom {
                    "bottom"
                } else {
                    "center"
                }
            ));
        }
        if let Some(u) = self.max_upscale {
            parts.push(format!("upscale up to {u}x"));
        }
        if let Some(t) = self.treat_as {
            parts.push(format!("treat as {}", t.as_str()));
        }
        match self.enclosed {
            Some(Enclosed::Clear) => parts.push("enclosed backdrop cleared".into()),
            Some(Enclosed::Keep) => parts.push("enclosed areas kept as product".into()),
            None => {}
        }
        if parts.is_empty() {
            "no change".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A downstream stage's word that it received a usable file: the handoff is then complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    /// The stage or person that received it.
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_routed_by_their_first_cause_with_a_catch_all() {
        let r = Routing::default();
        assert_eq!(r.route_for(&[CheckName::Upscale]).name, "supplier");
        assert_eq!(
            r.route_for(&[CheckName::Sharpness, CheckName::PlainBackground])
                .name,
            "retouch"
        );
        assert_eq!(r.route_for(&[CheckName::FillRatio]).name, "review");
        let only = Routing {
            routes: vec![r.routes[0].clone()],
        };
        assert_eq!(only.route_for(&[CheckName::FillRatio]).name, "review");
    }

    #[test]
    fn overrides_change_the_spec_within_bounds() {
        let spec = crate::spec::builtin("amazon-main").unwrap().unwrap();
        let o = Override {
            fill_ratio: Some(0.7),
            max_upscale: Some(3.0),
            ..Default::default()
        };
        let s = o.apply(&spec).unwrap();
        assert_eq!((s.fill_ratio, s.max_upscale), (0.7, 3.0));
        assert_eq!(o.describe(), "fill 0.7, upscale up to 3x");
        let bad = Override {
            fill_ratio: Some(1.5),
            ..Default::default()
        };
        assert!(bad.apply(&spec).unwrap_err().contains("fill_ratio"));
    }
}
