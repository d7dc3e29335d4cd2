"""Shared by the benchmark scripts: Debian's kernel package as a Linux guest
for QEMU (extracted, not installed), and apt installs of what they need."""
import os
import re
import shutil
import subprocess
from pathlib import Path


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def apt_install(pkgs, who):
    missing = [p for p in pkgs if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        print(f"{who}: installing {' '.join(missing)} (apt-get)", flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(*sudo, "apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
        sh(*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env, stdout=subprocess.DEVNULL)


def linux_kernel(work: Path):
    """Debian's current kernel package, extracted under work/linux: (vmlinuz, modules dir)."""
    x = work / "linux"
    if not (x / "done").exists():
        shutil.rmtree(x, ignore_errors=True)
        x.mkdir(parents=True)
        deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=True).stdout
        pkg = re.search(r"Depends: (linux-image-\S+)", deps).group(1)
        sh("apt-get", "download", "-q", pkg, cwd=x, stderr=subprocess.DEVNULL)
        deb = next(x.glob("*.deb"))
        sh("dpkg-deb", "-x", str(deb), str(x / "root"))
        deb.unlink()
        (x / "done").write_text(pkg)
    vmlinuz = next((x / "root" / "boot").glob("vmlinuz-*"))
    modules = next((x / "root" / "lib" / "modules").iterdir()) / "kernel"
    return vmlinuz, modules


def cpio(directory: Path, out: Path):
    """Packs `directory` as a cpio newc archive at `out`."""
    with open(out, "wb") as f:
        files = subprocess.run(["find", "."], cwd=directory, capture_output=True, check=True).stdout
        sh("cpio", "-o", "-H", "newc", "--quiet", cwd=directory, input=files, stdout=f)


def load_order(modules, wanted):
    """The modules `wanted` need, dependencies first, from each module's
    own `depends=` (the package ships no modules.dep: depmod makes it)."""
    paths = {p.stem: p for p in modules.rglob("*.ko")}
    order = []

    def visit(name):
        if name in order:
            return
        text = paths[name].read_bytes()
        m = re.search(rb"depends=([a-z0-9_,-]*)", text)
        for dep in filter(None, (m.group(1).decode().split(",") if m else [])):
            visit(dep)
        order.append(name)

    for w in wanted:
        visit(w)
    return [paths[n] for n in order]
