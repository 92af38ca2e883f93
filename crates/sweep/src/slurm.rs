//! `p2law sweep RECIPE --slurm`: the units not done yet, submitted to Slurm as one job array per dependency
//! level, each level `--dependency=afterok:` on the one before, every task running
//! `p2law sweep RECIPE --out OUT --unit ID` in the shared sweep folder; the last level is the report.
//!
//! Levels are counted over the units still to do (a unit's level is one more than the highest level of its
//! not-done dependencies), so a resubmission after a partial run starts where the folder stands: what is
//! done is skipped, what failed or was killed is submitted again, and a killed run resumes from its
//! checkpoint. The scripts, a `submit.sh` doing the same submissions, the tasks' logs and `jobs.json` go to
//! `slurm/<unix time>/` in the sweep folder. `--kill-on-invalid-dep=yes` cancels the levels after a failed
//! task instead of leaving them pending forever.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::{Kind, Plan};
use crate::recipe::Recipe;
use crate::SweepError;

/// How to submit.
pub struct Options {
    /// The `p2law` executable the tasks run.
    pub exe: PathBuf,
    /// The recipe, absolute (the tasks run it).
    pub recipe: PathBuf,
    /// Extra sbatch options, one per `#SBATCH` line.
    pub extra: Vec<String>,
    /// `%N` of the job arrays.
    pub max_parallel: Option<usize>,
    /// Write the scripts, do not call sbatch.
    pub dry_run: bool,
    /// The tasks' `--log-every` and `--wait`.
    pub log_every: f64,
    pub wait: f64,
}

/// The units still to do, grouped by dependency level (level 0 first), the report last.
pub fn levels(plan: &Plan, done: &[bool]) -> Vec<Vec<String>> {
    let mut level: HashMap<&str, usize> = HashMap::new();
    let others_pending = plan.units.iter().zip(done).any(|(u, d)| u.kind != Kind::Report && !d);
    for (u, d) in plan.units.iter().zip(done) {
        // The report is written again whenever anything else runs: it reads every run.
        if *d && !(u.kind == Kind::Report && others_pending) {
            continue;
        }
        let l = u.deps.iter().filter_map(|d| level.get(d.as_str())).map(|l| l + 1).max().unwrap_or(0);
        level.insert(&u.id, l);
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for u in &plan.units {
        if let Some(&l) = level.get(u.id.as_str()) {
            if out.len() <= l {
                out.resize(l + 1, Vec::new());
            }
            out[l].push(u.id.clone());
        }
    }
    out
}

/// `s` as one single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The sbatch script of one level.
fn script(recipe: &Recipe, opts: &Options, dir: &Path, level: usize, units: &[String]) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| recipe.out.clone());
    let array = match opts.max_parallel {
        Some(n) => format!("0-{}%{n}", units.len() - 1),
        None => format!("0-{}", units.len() - 1),
    };
    let mut s = String::from("#!/bin/bash\n");
    s += &format!("#SBATCH --job-name=p2law-{}-L{level}\n", recipe.name);
    s += &format!("#SBATCH --array={array}\n");
    s += &format!("#SBATCH --output={}\n", dir.join(format!("logs/level{level}-%A_%a.out")).display());
    s += &format!("#SBATCH --chdir={}\n", cwd.display());
    s += "#SBATCH --kill-on-invalid-dep=yes\n";
    for opt in &opts.extra {
        s += &format!("#SBATCH {opt}\n");
    }
    s += &format!(
        "# p2law sweep {}: dependency level {level}, {} unit(s); task i runs units[i].\nset -euo pipefail\nunits=(\n",
        recipe.name,
        units.len()
    );
    for u in units {
        s += &format!("  {}\n", quote(u));
    }
    s += ")\n";
    s += &format!(
        "exec {} sweep {} --out {} --unit \"${{units[$SLURM_ARRAY_TASK_ID]}}\" --log-every {} --wait {}\n",
        quote(&opts.exe.display().to_string()),
        quote(&opts.recipe.display().to_string()),
        quote(&recipe.out.display().to_string()),
        opts.log_every,
        opts.wait
    );
    s
}

/// What [`submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// Every unit is done: nothing written, nothing submitted.
    Nothing,
    /// The scripts are in `dir` (submit them with its `submit.sh`).
    DryRun { dir: PathBuf },
    /// Submitted: the job id of every level, in order (also in `dir/jobs.json`).
    Submitted { dir: PathBuf, jobs: Vec<String> },
}

/// Writes the scripts of the units still to do and (unless a dry run) submits them; `say` gets a line per
/// step (the levels, each job submitted).
pub fn submit(
    recipe: &Recipe,
    plan: &Plan,
    opts: &Options,
    say: &dyn Fn(&str),
) -> Result<Submission, SweepError> {
    if let Some(opt) = opts.extra.iter().find(|opt| opt.contains('\n') || !opt.starts_with('-')) {
        return Err(SweepError::SlurmOption(opt.clone()));
    }
    if opts.max_parallel == Some(0) {
        return Err(SweepError::MaxParallelZero);
    }
    let statuses = plan.statuses(false)?;
    let done: Vec<bool> = statuses.iter().map(|s| s.is_done()).collect();
    let levels = levels(plan, &done);
    if levels.is_empty() {
        say("nothing to submit: every unit is done");
        return Ok(Submission::Nothing);
    }
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut dir = recipe.out.join("slurm").join(stamp.to_string());
    let mut k = 1;
    while dir.exists() {
        dir = recipe.out.join("slurm").join(format!("{stamp}-{k}"));
        k += 1;
    }
    std::fs::create_dir_all(dir.join("logs")).map_err(SweepError::io("creating", &dir))?;
    let mut submit_sh = String::from("#!/bin/bash\n# Submits the levels in order, each afterok on the one before.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n");
    let mut paths = Vec::new();
    for (l, units) in levels.iter().enumerate() {
        let path = dir.join(format!("level{l}.sbatch"));
        p2law_formats::write_atomic(&path, script(recipe, opts, &dir, l, units).as_bytes())
            .map_err(SweepError::io("writing", &path))?;
        let dep = if l == 0 { String::new() } else { format!("--dependency=afterok:$job{} ", l - 1) };
        submit_sh += &format!("job{l}=$(sbatch --parsable {dep}level{l}.sbatch | cut -d';' -f1)\necho \"level {l}: job $job{l}\"\n");
        paths.push(path);
    }
    let submit_path = dir.join("submit.sh");
    p2law_formats::write_atomic(&submit_path, submit_sh.as_bytes())
        .map_err(SweepError::io("writing", &submit_path))?;
    let summary: Vec<String> =
        levels.iter().enumerate().map(|(l, u)| format!("level {l}: {} unit(s)", u.len())).collect();
    say(&format!(
        "{} unit(s) to do in {} level(s) ({})",
        levels.iter().map(Vec::len).sum::<usize>(),
        levels.len(),
        summary.join(", ")
    ));
    if opts.dry_run {
        say(&format!("dry run: scripts in {} (submit with `bash {}`)", dir.display(), submit_path.display()));
        return Ok(Submission::DryRun { dir });
    }
    let mut jobs: Vec<String> = Vec::new();
    for (l, path) in paths.iter().enumerate() {
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable");
        if let Some(prev) = jobs.last() {
            cmd.arg(format!("--dependency=afterok:{prev}"));
        }
        cmd.arg(path);
        let out = cmd.output().map_err(|error| SweepError::SbatchMissing { error, dir: dir.clone() })?;
        if !out.status.success() {
            return Err(SweepError::SbatchFailed {
                path: path.clone(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                submitted: jobs,
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(SweepError::SbatchAnswer { path: path.clone(), answer: text.trim().to_string() });
        }
        say(&format!("level {l}: job {id} ({} task(s))", levels[l].len()));
        jobs.push(id);
    }
    let record = serde_json::json!({"dir": dir, "jobs": jobs, "levels": levels});
    let path = dir.join("jobs.json");
    p2law_formats::write_atomic(&path, format!("{record}\n").as_bytes())
        .map_err(SweepError::io("writing", &path))?;
    Ok(Submission::Submitted { dir, jobs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{load_in, GOOD};

    fn recipe(dir: &Path) -> Recipe {
        load_in(dir, &GOOD.replace("rates = [0.25]", "rates = [0.25, 0.5]")).unwrap()
    }

    #[test]
    fn levels_count_only_the_units_still_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = Plan::build(&recipe(tmp.path()));
        let none = vec![false; plan.units.len()];
        let l = levels(&plan, &none);
        assert_eq!(l[0], ["pretrain:a"]);
        assert_eq!(l[1], ["prune:a-depth-r0.25", "prune:a-depth-r0.5"]);
        assert_eq!(l[2], ["posttrain:a-depth-r0.25", "posttrain:a-depth-r0.5"]);
        assert_eq!(l[3], ["report"]);
        // Pretrained and pruned already, one run failed: that run, then the report.
        let mut done = vec![true; plan.units.len()];
        let idx = |id: &str| plan.units.iter().position(|u| u.id == id).unwrap();
        done[idx("posttrain:a-depth-r0.5")] = false;
        assert_eq!(levels(&plan, &done), [vec!["posttrain:a-depth-r0.5".to_string()], vec!["report".into()]]);
        // Everything done, the report too: nothing.
        assert!(levels(&plan, &vec![true; plan.units.len()]).is_empty());
        // Everything done but the report: only the report.
        done = vec![true; plan.units.len()];
        done[idx("report")] = false;
        assert_eq!(levels(&plan, &done), [vec!["report".to_string()]]);
    }

    #[test]
    fn dry_run_writes_one_array_per_level_with_the_options() {
        let tmp = tempfile::tempdir().unwrap();
        let r = recipe(tmp.path());
        let plan = Plan::build(&r);
        let opts = Options {
            exe: PathBuf::from("/opt/p2law/bin/p2law"),
            recipe: tmp.path().join("r.toml"),
            extra: vec!["--gres=gpu:1".into(), "--time=01:00:00".into()],
            max_parallel: Some(3),
            dry_run: true,
            log_every: 30.0,
            wait: 600.0,
        };
        let said = std::cell::RefCell::new(Vec::new());
        let say = |m: &str| said.borrow_mut().push(m.to_string());
        let Submission::DryRun { dir } = submit(&r, &plan, &opts, &say).unwrap() else { panic!("a dry run") };
        assert_eq!(said.borrow()[0], "6 unit(s) to do in 4 level(s) (level 0: 1 unit(s), level 1: 2 unit(s), level 2: 2 unit(s), level 3: 1 unit(s))");
        let runs: Vec<_> =
            std::fs::read_dir(r.out.join("slurm")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(runs, [dir]);
        let level1 = std::fs::read_to_string(runs[0].join("level1.sbatch")).unwrap();
        assert!(level1.contains("#SBATCH --array=0-1%3\n"), "{level1}");
        assert!(level1.contains("#SBATCH --gres=gpu:1\n#SBATCH --time=01:00:00\n"), "{level1}");
        assert!(level1.contains("  'prune:a-depth-r0.25'\n  'prune:a-depth-r0.5'\n"), "{level1}");
        assert!(level1.contains("exec '/opt/p2law/bin/p2law' sweep "), "{level1}");
        assert!(level1.contains("--unit \"${units[$SLURM_ARRAY_TASK_ID]}\""), "{level1}");
        let submit_sh = std::fs::read_to_string(runs[0].join("submit.sh")).unwrap();
        assert!(submit_sh.contains("--dependency=afterok:$job2 level3.sbatch"), "{submit_sh}");
        assert!(!runs[0].join("jobs.json").exists(), "a dry run submits nothing");
        let bad = Options { extra: vec!["gres=gpu:1".into()], ..opts };
        assert!(submit(&r, &plan, &bad, &say).unwrap_err().to_string().contains("--slurm-opt"));
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
