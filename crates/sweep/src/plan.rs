//! A sweep as an explicit graph of units: pretrain a base → prune it (method, rate; measuring L0 on the
//! post-training evaluation tokens) → post-train the pruned model → report. The graph is built from the
//! recipe alone; the status of every unit is read from the sweep folder (the run folders are the truth),
//! so any process, on any node sharing the folder, sees the same plan.
//!
//! Unit ids: `pretrain:<model>`, `prune:<model>-<method>-r<rate>`, `control:<model>` (the unpruned
//! control's model and its L0), `posttrain:<run>` (run = `<model>-<method>-r<rate>` or `<model>-control`),
//! and `report`. A post-training unit depends on its pruning and on the prunings of the same method at
//! the recipe's earlier rates: until those exist, it cannot be told whether its rate reaches the same model
//! as an earlier one (a twin, which is not post-trained).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::claim;
use crate::recipe::Recipe;
use crate::SweepError;

/// What a unit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pretrain,
    Prune,
    Control,
    Posttrain,
    Report,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pretrain => "pretrain",
            Kind::Prune => "prune",
            Kind::Control => "control",
            Kind::Posttrain => "posttrain",
            Kind::Report => "report",
        }
    }
}

/// One unit of sweep work.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub kind: Kind,
    /// Base model name (empty for the report).
    pub model: String,
    /// The run or pruned-model name: `<model>-base`, `<model>-<method>-r<rate>`, `<model>-control`.
    pub run: String,
    /// Pruning method and target rate (prune and posttrain units of the grid).
    pub method: Option<String>,
    pub rate: Option<f64>,
    pub inputs: Vec<PathBuf>,
    /// The folder whose completion marks the unit done.
    pub outputs: Vec<PathBuf>,
    /// Ids of the units this one needs done first.
    pub deps: Vec<String>,
    /// Name of its lock file under `claims/`.
    pub claim: String,
}

/// A unit's state in the sweep folder.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done(Done),
    /// Every dependency is done and nobody holds it.
    Ready,
    /// Some dependency is not done.
    Waiting,
    /// A process holds its claim.
    Running,
}

/// How a done unit ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// Its output exists.
    Output,
    /// The rate cannot be reached at the model's granularity (a hole in the grid; a prune unit's marker).
    Unreachable,
    /// A post-training unit whose rate reached the same model as an earlier rate's: nothing to train.
    Twin { same_as: String, rho: f64 },
}

impl Status {
    pub fn word(&self) -> &'static str {
        match self {
            Status::Done(_) => "done",
            Status::Ready => "ready",
            Status::Waiting => "waiting",
            Status::Running => "running",
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Status::Done(_))
    }

    fn note(&self) -> Option<String> {
        match self {
            Status::Done(Done::Unreachable) => Some("unreachable rate".into()),
            Status::Done(Done::Twin { same_as, rho }) => {
                Some(format!("same model as {same_as} (rho {rho:.4})"))
            }
            _ => None,
        }
    }
}

/// `0.25` → `r0.25` (run names keep the rate readable).
pub fn rate_tag(rate: f64) -> String {
    format!("r{}", rate)
}

/// Every unit of a recipe, dependencies before dependants.
#[derive(Debug, Clone)]
pub struct Plan {
    pub out: PathBuf,
    pub units: Vec<Unit>,
}

impl Plan {
    pub fn build(recipe: &Recipe) -> Plan {
        let out = recipe.out.clone();
        let data = |split: &str| recipe.data.join(format!("{split}.bin"));
        let mut units = Vec::new();
        let mut posttrains = Vec::new();
        for m in &recipe.models {
            let (base_dir, base_deps) = match &m.hf_dir {
                Some(dir) => (dir.clone(), vec![]),
                None => {
                    let id = format!("pretrain:{}", m.name);
                    let run = format!("{}-base", m.name);
                    units.push(Unit {
                        id: id.clone(),
                        kind: Kind::Pretrain,
                        model: m.name.clone(),
                        run: run.clone(),
                        method: None,
                        rate: None,
                        inputs: vec![data("pretrain"), data("heldout")],
                        outputs: vec![out.join("base").join(&m.name)],
                        deps: vec![],
                        claim: run,
                    });
                    (out.join("base").join(&m.name).join("final"), vec![id])
                }
            };
            let mut post = |units: &mut Vec<Unit>, run: &str, deps: Vec<String>| {
                let id = format!("posttrain:{run}");
                posttrains.push(id.clone());
                units.push(Unit {
                    id,
                    kind: Kind::Posttrain,
                    model: m.name.clone(),
                    run: run.into(),
                    method: None,
                    rate: None,
                    inputs: vec![out.join("pruned").join(run), data("posttrain"), data("heldout")],
                    outputs: vec![out.join("runs").join(run)],
                    deps,
                    claim: run.into(),
                });
            };
            if recipe.prune.control {
                let run = format!("{}-{}", m.name, p2law_formats::CONTROL_METHOD);
                let id = format!("control:{}", m.name);
                units.push(Unit {
                    id: id.clone(),
                    kind: Kind::Control,
                    model: m.name.clone(),
                    run: run.clone(),
                    method: None,
                    rate: None,
                    inputs: vec![base_dir.clone(), data("heldout")],
                    outputs: vec![out.join("pruned").join(&run)],
                    deps: base_deps.clone(),
                    claim: format!("prune-{run}"),
                });
                post(&mut units, &run, vec![id]);
            }
            for method in &recipe.prune.methods {
                let mut earlier: Vec<String> = Vec::new();
                for &rate in &recipe.prune.rates {
                    let run = format!("{}-{method}-{}", m.name, rate_tag(rate));
                    let id = format!("prune:{run}");
                    units.push(Unit {
                        id: id.clone(),
                        kind: Kind::Prune,
                        model: m.name.clone(),
                        run: run.clone(),
                        method: Some(method.clone()),
                        rate: Some(rate),
                        inputs: vec![base_dir.clone(), data("calib"), data("heldout")],
                        outputs: vec![out.join("pruned").join(&run)],
                        deps: base_deps.clone(),
                        claim: format!("prune-{run}"),
                    });
                    earlier.push(id);
                    post(&mut units, &run, earlier.clone());
                    let last = units.last_mut().expect("just pushed");
                    last.method = Some(method.clone());
                    last.rate = Some(rate);
                }
            }
        }
        units.push(Unit {
            id: "report".into(),
            kind: Kind::Report,
            model: String::new(),
            run: String::new(),
            method: None,
            rate: None,
            inputs: vec![out.join("runs")],
            outputs: vec![out.join("report")],
            deps: posttrains,
            claim: "report".into(),
        });
        Plan { out, units }
    }

    pub fn get(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The unreachable-rate marker of pruning `run`.
    pub fn unreachable_marker(&self, run: &str) -> PathBuf {
        self.out.join("pruned").join(format!("{run}.unreachable"))
    }

    /// Whether `unit`'s own output exists (not counting twins).
    fn output_done(&self, unit: &Unit) -> Option<Done> {
        let out = &unit.outputs[0];
        let done = match unit.kind {
            Kind::Pretrain | Kind::Posttrain => out.join("final/config.json").is_file(),
            Kind::Prune | Kind::Control => out.join("pruning.json").is_file(),
            Kind::Report => self.report_fresh(out),
        };
        if done {
            return Some(Done::Output);
        }
        (unit.kind == Kind::Prune && self.unreachable_marker(&unit.run).is_file())
            .then_some(Done::Unreachable)
    }

    /// Whether `report/report.md` exists and is no older than every post-training run's `final/`: a run
    /// finished after the report makes it stale.
    fn report_fresh(&self, report: &Path) -> bool {
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let Some(written) = mtime(&report.join("report.md")) else { return false };
        self.units
            .iter()
            .filter(|u| u.kind == Kind::Posttrain)
            .filter_map(|u| mtime(&u.outputs[0].join("final/config.json")))
            .all(|t| t <= written)
    }

    /// The status of every unit, in plan order; `probe` also asks the claims which not-done units are held
    /// (`Running`), otherwise a held unit whose dependencies are done reads `Ready`.
    pub fn statuses(&self, probe: bool) -> Result<Vec<Status>, SweepError> {
        let claims = self.out.join("claims");
        let mut by_id: HashMap<&str, Status> = HashMap::new();
        let mut all = Vec::with_capacity(self.units.len());
        for unit in &self.units {
            let deps_done = unit.deps.iter().all(|d| by_id.get(d.as_str()).is_some_and(Status::is_done));
            let mut status = match self.output_done(unit) {
                Some(done) => Status::Done(done),
                None if deps_done && unit.kind == Kind::Posttrain => self.posttrain_shortcut(unit)?,
                None if deps_done => Status::Ready,
                None => Status::Waiting,
            };
            if probe && !status.is_done() && claim::is_held(&claims, &unit.claim)? {
                status = Status::Running;
            }
            by_id.insert(&unit.id, status.clone());
            all.push(status);
        }
        Ok(all)
    }

    /// A post-training unit whose prunings are all done: done without training when its pruning was
    /// unreachable or reached the same model as an earlier rate, else ready.
    fn posttrain_shortcut(&self, unit: &Unit) -> Result<Status, SweepError> {
        if unit.method.is_none() {
            return Ok(Status::Ready);
        }
        let own = self.unit_run_pruned(&unit.run);
        if self.unreachable_marker(&unit.run).is_file() {
            return Ok(Status::Done(Done::Unreachable));
        }
        let rho = achieved_rho(&own)?;
        // Earlier rates of the same method, in recipe order (the deps after the own pruning's position).
        for dep in &unit.deps {
            let run = dep.strip_prefix("prune:").unwrap_or(dep);
            if run == unit.run || self.unreachable_marker(run).is_file() {
                continue;
            }
            if achieved_rho(&self.unit_run_pruned(run))? == rho {
                return Ok(Status::Done(Done::Twin { same_as: run.into(), rho }));
            }
        }
        Ok(Status::Ready)
    }

    fn unit_run_pruned(&self, run: &str) -> PathBuf {
        self.out.join("pruned").join(run)
    }

    /// The plan as JSON: `{"sweep", "out", "units": [{id, kind, inputs, outputs, depends_on, status,
    /// note}], "counts": {status: n}}`.
    pub fn to_json(&self, name: &str, statuses: &[Status]) -> Value {
        let rel = |p: &Path| self.show_path(p);
        let units: Vec<Value> = self
            .units
            .iter()
            .zip(statuses)
            .map(|(u, s)| {
                json!({
                    "id": u.id, "kind": u.kind.name(),
                    "inputs": u.inputs.iter().map(|p| rel(p)).collect::<Vec<_>>(),
                    "outputs": u.outputs.iter().map(|p| rel(p)).collect::<Vec<_>>(),
                    "depends_on": u.deps, "status": s.word(), "note": s.note(),
                })
            })
            .collect();
        let mut counts = serde_json::Map::new();
        for word in ["done", "ready", "waiting", "running"] {
            counts.insert(word.into(), statuses.iter().filter(|s| s.word() == word).count().into());
        }
        json!({"sweep": name, "out": self.out, "units": units, "counts": counts})
    }

    /// A path inside the sweep folder relative to it, others as they are.
    pub fn show_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.out) {
            Ok(r) => r.display().to_string(),
            Err(_) => p.display().to_string(),
        }
    }

    /// The plan as a table: id, kind, status, depends-on, outputs.
    pub fn to_table(&self, statuses: &[Status]) -> String {
        let width = self.units.iter().map(|u| u.id.len()).max().unwrap_or(2).max(4);
        let mut s =
            format!("{:width$}  {:9}  {:7}  {:40}  outputs\n", "unit", "kind", "status", "depends on");
        for (u, st) in self.units.iter().zip(statuses) {
            let deps = match u.deps.len() {
                0 => "-".to_string(),
                1..=2 => u.deps.join(" "),
                n => format!("{} units", n),
            };
            let outs: Vec<String> = u.outputs.iter().map(|p| self.show_path(p)).collect();
            let note = st.note().map(|n| format!("  ({n})")).unwrap_or_default();
            s += &format!(
                "{:width$}  {:9}  {:7}  {deps:40}  {}{note}\n",
                u.id,
                u.kind.name(),
                st.word(),
                outs.join(" ")
            );
        }
        let count = |w: &str| statuses.iter().filter(|s| s.word() == w).count();
        s += &format!(
            "{} units: {} done, {} ready, {} waiting, {} running\n",
            statuses.len(),
            count("done"),
            count("ready"),
            count("waiting"),
            count("running")
        );
        s
    }
}

/// The achieved ρ a pruned model's `pruning.json` records.
pub fn achieved_rho(pruned: &Path) -> Result<f64, SweepError> {
    Ok(p2law_formats::PruningRecord::read(&pruned.join("pruning.json"))?.rho)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{load_in, GOOD};

    /// Two bases (`a` pretrained, `b` from a folder), depth and 2:4 at two rates.
    fn recipe(dir: &Path, control: bool) -> Recipe {
        let text = GOOD
            .replace("[pretrain]", "[[models]]\nname = \"b\"\nhf_dir = \"hf\"\n[pretrain]")
            .replace("methods = [\"depth\"]", "methods = [\"depth\", \"nm\"]")
            .replace("rates = [0.25]", &format!("rates = [0.25, 0.5]\ncontrol = {control}"));
        load_in(dir, &text).unwrap()
    }

    fn write_pruned(plan: &Plan, run: &str, rho: f64) {
        let dir = plan.out.join("pruned").join(run);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pruning.json"), format!("{{\"rho\": {rho}}}")).unwrap();
    }

    #[test]
    fn rate_tags_keep_the_rate_readable() {
        assert_eq!(rate_tag(0.25), "r0.25");
    }

    #[test]
    fn the_graph_orders_dependencies_first_and_names_every_unit() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::build(&recipe(tmp.path(), true));
        let ids: Vec<&str> = plan.units.iter().map(|u| u.id.as_str()).collect();
        // a: pretrain, control + its post-training, 2 methods × 2 rates × (prune, post-train); b: no
        // pretraining; then the report.
        assert_eq!(ids.len(), 1 + 2 + 8 + 2 + 8 + 1);
        assert_eq!(
            &ids[..5],
            [
                "pretrain:a",
                "control:a",
                "posttrain:a-control",
                "prune:a-depth-r0.25",
                "posttrain:a-depth-r0.25"
            ]
        );
        assert!(!ids.contains(&"pretrain:b"));
        for (i, u) in plan.units.iter().enumerate() {
            for d in &u.deps {
                let j =
                    ids.iter().position(|x| x == d).unwrap_or_else(|| panic!("{}: unknown dep {d}", u.id));
                assert!(j < i, "{} before its dependency {d}", u.id);
            }
        }
        let post = plan.get("posttrain:a-depth-r0.5").unwrap();
        assert_eq!(post.deps, ["prune:a-depth-r0.25", "prune:a-depth-r0.5"]);
        assert_eq!(plan.get("prune:b-nm-r0.5").unwrap().deps, Vec::<String>::new());
        assert_eq!(plan.get("prune:a-nm-r0.5").unwrap().deps, ["pretrain:a"]);
        assert_eq!(plan.get("report").unwrap().deps.len(), 2 + 8);
        let st = plan.statuses(true).unwrap();
        assert_eq!(st[0], Status::Ready);
        assert_eq!(st[1], Status::Waiting);
        let b = ids.iter().position(|x| *x == "prune:b-depth-r0.25").unwrap();
        assert_eq!(st[b], Status::Ready, "an hf_dir model's prunings are ready at once");
    }

    #[test]
    fn statuses_follow_the_folder_twins_and_holes_included() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::build(&recipe(tmp.path(), false));
        let status = |id: &str| {
            let st = plan.statuses(true).unwrap();
            st[plan.units.iter().position(|u| u.id == id).unwrap()].clone()
        };
        std::fs::create_dir_all(plan.out.join("base/a/final")).unwrap();
        std::fs::write(plan.out.join("base/a/final/config.json"), "{}").unwrap();
        assert_eq!(status("pretrain:a"), Status::Done(Done::Output));
        assert_eq!(status("prune:a-depth-r0.25"), Status::Ready);
        write_pruned(&plan, "a-depth-r0.25", 0.25);
        assert_eq!(status("posttrain:a-depth-r0.25"), Status::Ready);
        assert_eq!(status("posttrain:a-depth-r0.5"), Status::Waiting);
        // Depth 0.5 of this model reaches the same model as 0.25: done without training.
        write_pruned(&plan, "a-depth-r0.5", 0.25);
        let twin = Done::Twin { same_as: "a-depth-r0.25".into(), rho: 0.25 };
        assert_eq!(status("posttrain:a-depth-r0.5"), Status::Done(twin));
        std::fs::write(plan.unreachable_marker("a-nm-r0.25"), "x").unwrap();
        assert_eq!(status("prune:a-nm-r0.25"), Status::Done(Done::Unreachable));
        assert_eq!(status("posttrain:a-nm-r0.25"), Status::Done(Done::Unreachable));
        // A held claim reads as running.
        let _held = claim::try_claim(&plan.out.join("claims"), "a-depth-r0.25").unwrap().unwrap();
        assert_eq!(status("posttrain:a-depth-r0.25"), Status::Running);
        let json = plan.to_json("t", &plan.statuses(true).unwrap());
        let unit =
            json["units"].as_array().unwrap().iter().find(|u| u["id"] == "posttrain:a-depth-r0.5").unwrap();
        assert_eq!(unit["status"], "done");
        assert_eq!(unit["outputs"][0], "runs/a-depth-r0.5");
        assert_eq!(unit["depends_on"][1], "prune:a-depth-r0.5");
        assert_eq!(json["counts"]["running"], 1);
    }
}
