import { describe, expect, it } from "vitest";
import { declaredDependencies, installCommandHits, newImports, projectModules, type DependencyPolicy } from "../../src/guards/dependencies.js";

describe("declaredDependencies (pyproject.toml)", () => {
  it("PEP 621 dependencies, multi-line, with version specifiers, extras, markers and comments", () => {
    const deps = declaredDependencies(`[project]
name = "autoresearch"
requires-python = ">=3.10"
dependencies = [
    "torch[cuda]>=2.1",   # extras hold a ] inside the array
    "numpy >= 1.26",
    'pyarrow==15.0.*',
    "tiktoken ; python_version >= '3.10'",
    # "pandas" is commented out: not declared
    "kernels @ git+https://github.com/x/kernels#egg=kernels",
    "Requests",
]
`);
    expect([...deps].sort()).toEqual(["kernels", "numpy", "pyarrow", "requests", "tiktoken", "torch"]);
  });

  it("[project.optional-dependencies], [dependency-groups], [tool.uv] dev-dependencies, [build-system]", () => {
    const deps = declaredDependencies(`[build-system]
requires = ["hatchling"]

[project.optional-dependencies]
viz = ["matplotlib>=3", "scikit-learn"]
gpu = [
  "triton",
]

[dependency-groups]
dev = [{include-group = "lint"}, "pytest>=8"]
lint = ["ruff"]

[tool.uv]
dev-dependencies = ["ipython", "python-dotenv"]

[tool.uv.sources]
torch = { index = "pytorch-cu124" }

[[tool.uv.index]]
name = "pytorch-cu124"
url = "https://download.pytorch.org/whl/cu124"
`);
    for (const d of ["hatchling", "matplotlib", "scikit_learn", "sklearn", "triton", "pytest", "ruff", "ipython", "python_dotenv", "dotenv"]) expect(deps.has(d), d).toBe(true);
    expect(deps.has("lint")).toBe(false); // the include-group name is not a package
    expect(deps.has("pytorch_cu124")).toBe(false);
  });

  it("poetry tables: keys are names (python is not), inline tables and sub-tables", () => {
    const deps = declaredDependencies(`[tool.poetry.dependencies]
python = "^3.10"
torch = { version = "^2.1", extras = ["cuda"] }
Pillow = "^10"

[tool.poetry.group.dev.dependencies]
pytest = "^8"

[tool.poetry.dependencies.einops]
version = "^0.7"
`);
    expect([...deps].sort()).toEqual(["einops", "pil", "pillow", "pytest", "torch"]);
  });

  it("aliases: distribution name → import name, whatever the spelling (scikit_learn, PyYAML)", () => {
    const deps = declaredDependencies(`[project]\ndependencies = ["scikit_learn", "PyYAML", "opencv-python-headless", "beautifulsoup4"]\n`);
    for (const m of ["sklearn", "yaml", "cv2", "bs4"]) expect(deps.has(m), m).toBe(true);
  });

  it("a pyproject without dependencies, or not TOML at all, declares nothing and does not hang", () => {
    expect(declaredDependencies(`[project]\nname = "x"\n`).size).toBe(0);
    expect(declaredDependencies("\u00a0\u2028 garbage [[ ] = = \"unterminated\n'x").size).toBe(0);
    expect(declaredDependencies("").size).toBe(0);
  });
});

describe("projectModules", () => {
  it("top-level .py files and directories of tracked paths; src layout; extension modules", () => {
    expect([...projectModules(["train.py", "prepare.py", "README.md", "utils/helpers.py", "src/mypkg/__init__.py", "src/tool.py", "fastops.cpython-311-x86_64-linux-gnu.so", "types.pyi"])].sort()).toEqual(
      ["fastops", "mypkg", "prepare", "src", "tool", "train", "types", "utils"],
    );
  });
});

describe("newImports", () => {
  const policy = (over: Partial<DependencyPolicy> = {}): DependencyPolicy => ({
    allowed: new Set([...projectModules(["train.py", "prepare.py"]), ...declaredDependencies('[project]\ndependencies = ["numpy", "scikit-learn"]\n')]),
    baseImports: new Set(["torch", "kernels"]),
    baseInstallHits: 0,
    baseComputedImports: 0,
    ...over,
  });
  it.each([
    ["stdlib is allowed (import json)", ["json", "os", "itertools", "__future__", "_thread"], []],
    ["base imports are allowed", ["torch", "kernels"], []],
    ["project modules are allowed", ["prepare"], []],
    ["declared dependencies are allowed, aliases too", ["numpy", "sklearn"], []],
    ["anything else is new", ["pandas", "torch", "wandb"], ["pandas", "wandb"]],
    ["case of the import name matters only through normalisation", ["NumPy"], []],
  ])("%s", (_rule, imports, want) => {
    expect(newImports(imports, policy())).toEqual(want);
  });
});

describe("installCommandHits", () => {
  it.each([
    ['os.system("pip install x")', 1],
    ['os.system("pip3  install -U x")', 1],
    ['subprocess.run(["pip", "install", "x"])', 1],
    ['subprocess.run([\n    "pip",\n    "install",\n    "x",\n])', 1],
    ['subprocess.check_call([sys.executable, "-m", "pip", "install", "x"])', 2],
    ['os.system(f"{sys.executable} -mpip install x")', 1],
    ['subprocess.run("uv add einops", shell=True)', 1],
    ['subprocess.run(["uv", "pip", "install", "x"])', 2],
    ['os.system("conda install -y pandas")', 1],
    ['os.system("mamba install x")', 1],
    ['subprocess.run(["poetry", "add", "x"])', 1],
    ["import ensurepip; ensurepip.bootstrap()", 2],
    ["import pip; pip.main(['install', 'x'])", 1],
  ])("%s → %i hit(s)", (src, hits) => {
    expect(installCommandHits(src)).toHaveLength(hits);
  });

  it.each([
    ["pipeline = build_pipeline(); pipeline.install(model)"],
    ["install_dir = os.path.join(root, 'install_dir')"],
    ["uv = coords(uv, add)"],
    ["x = f(uv, add)"],
    ["texture = uv\nadd = 1"],
    ["# the pipeline installs nothing\nreinstall = False"],
    ["mpip = 3; x = a -m pipe"],
    ["condition = conda_env_installed"],
  ])("no hit for ordinary code: %s", (src) => {
    expect(installCommandHits(src)).toEqual([]);
  });
});
