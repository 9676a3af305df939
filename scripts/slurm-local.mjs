// A real one-node Slurm cluster on this machine, with four fake GPUs (the recipe of SLURM-LOCAL.md):
// Debian's slurm-wlm and munge (installed with apt-get when missing), munged, slurmctld and slurmd
// started as root without systemd. Jobs asking --gres=gpu:1 get CUDA_VISIBLE_DEVICES 0..3, four at a
// time. For scripts/e2e-slurm.mjs; needs root.
//
//   node scripts/slurm-local.mjs up | down | status

import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: "utf8", ...opts });
const ok = (cmd, args, opts) => sh(cmd, args, opts).status === 0;
const say = (m) => process.stderr.write(`slurm-local: ${m}\n`);
const host = () => sh("hostname", ["-s"]).stdout.trim() || os.hostname().split(".")[0];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pidAlive = (file) => {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
};

/** Installs the packages when a command is missing (Debian's registry only). */
function install() {
  if (ok("sh", ["-c", "command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged"])) return;
  say("installing slurm-wlm and munge with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "slurm-wlm", "munge"]]) {
    const r = sh("apt-get", args, { env, stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed: ${r.stderr.trim().split("\n").slice(-3).join(" ")}`);
  }
}

function startMunge() {
  if (pidAlive("/run/munge/munged.pid") && ok("sh", ["-c", "munge -n | unmunge >/dev/null"])) return;
  for (const d of ["/etc/munge", "/var/log/munge", "/run/munge", "/var/lib/munge"]) fs.mkdirSync(d, { recursive: true });
  if (!fs.existsSync("/etc/munge/munge.key")) fs.writeFileSync("/etc/munge/munge.key", crypto.randomBytes(1024), { mode: 0o400 });
  sh("chown", ["-R", "munge:munge", "/etc/munge", "/var/log/munge", "/run/munge", "/var/lib/munge"]);
  fs.chmodSync("/etc/munge/munge.key", 0o400);
  const r = sh("su", ["-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"]);
  if (r.status !== 0) throw new Error(`munged did not start: ${r.stderr.trim()}`);
}

function writeConfig() {
  const h = host();
  for (let n = 0; n < 4; n++) if (!fs.existsSync(`/dev/fakegpu${n}`)) sh("mknod", [`/dev/fakegpu${n}`, "c", "1", "3"]);
  fs.mkdirSync("/etc/slurm", { recursive: true });
  fs.writeFileSync("/etc/slurm/gres.conf", `NodeName=${h} Name=gpu File=/dev/fakegpu[0-3]\n`);
  const mem = Math.max(1024, Math.floor(os.totalmem() / 1024 / 1024) - 512);
  fs.writeFileSync(
    "/etc/slurm/slurm.conf",
    [
      "ClusterName=local",
      `SlurmctldHost=${h}`,
      "AuthType=auth/munge",
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SlurmUser=root",
      "SlurmdSpoolDir=/var/spool/slurmd",
      "StateSaveLocation=/var/spool/slurmctld",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "SlurmdParameters=config_overrides",
      "GresTypes=gpu",
      "MinJobAge=3600",
      "KillWait=5",
      "AccountingStorageType=accounting_storage/none",
      "JobAcctGatherType=jobacct_gather/none",
      "SlurmctldLogFile=/var/log/slurm/slurmctld.log",
      "SlurmdLogFile=/var/log/slurm/slurmd.log",
      `NodeName=${h} CPUs=8 RealMemory=${mem} Gres=gpu:4 State=UNKNOWN`,
      `PartitionName=gpu Nodes=${h} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE`,
      "",
    ].join("\n"),
  );
}

export async function up() {
  install();
  startMunge();
  if (!(pidAlive("/run/slurmctld.pid") && pidAlive("/run/slurmd.pid"))) {
    writeConfig();
    for (const d of ["/var/spool/slurmctld", "/var/spool/slurmd", "/var/log/slurm"]) fs.mkdirSync(d, { recursive: true });
    if (!pidAlive("/run/slurmctld.pid")) sh("/usr/sbin/slurmctld", []);
    if (!pidAlive("/run/slurmd.pid")) sh("/usr/sbin/slurmd", []);
  }
  for (let i = 0; i < 60; i++) {
    const s = sh("sinfo", ["-h", "-o", "%T"]).stdout.trim();
    if (/^(idle|mixed|allocated)/.test(s)) return s;
    if (/down|drain/.test(s)) sh("scontrol", ["update", `nodename=${host()}`, "state=resume"]);
    await sleep(500);
  }
  throw new Error(`the node did not come up: sinfo says ${JSON.stringify(sh("sinfo", []).stdout.trim())}`);
}

export function down() {
  for (const f of ["/run/slurmd.pid", "/run/slurmctld.pid", "/run/munge/munged.pid"]) {
    const pid = pidAlive(f);
    if (pid) process.kill(pid, "SIGTERM");
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cmd = process.argv[2];
  if (cmd === "up") console.log(`node ${await up()}`);
  else if (cmd === "down") down();
  else if (cmd === "status") console.log(sh("sinfo", []).stdout + sh("squeue", []).stdout);
  else {
    console.error("usage: node scripts/slurm-local.mjs up | down | status");
    process.exit(2);
  }
}
