"""neon_ext against numpy and scikit-learn, in one process, with the ratios.

    python bench/compare.py                      # the issue's case: 1e6 x 64 float32, K = 16
    python bench/compare.py --n 200000 --reps 5 --rss-n 2000000
    python bench/compare.py --no-rss --threads 1,2

Times, after a warm-up, `--reps` runs of each (median, min-max, wall clock;
CPU time next to it, which is what matters on a machine shared with other
jobs):

- the streaming floor ``np.multiply(X, 1.0, out=R)`` (read X, write R: what
  any explanation must at least do), float32 and float64;
- the distance product ``X @ C.T`` (numpy's BLAS) and scikit-learn's
  ``KMeans.predict`` when installed;
- the best numpy NEON: the GEMM-factorized form of NEON_SPEC.md section 1,
  fused, in row chunks with in-place updates (no N x K x D tensor);
- ``NeuralizedKMeans.explain`` (float32 and float64, each thread count) and
  ``predict``;
- in a subprocess, the peak anonymous memory (RssAnon, sampled) of
  explaining a memory-mapped ``--rss-n`` x D float32 file into a
  memory-mapped output, both in a temporary directory that is removed;
- when this build has them: kernel k-means explain against its distance
  product ``X @ U.T`` (M support vectors), and ``neon_ext.KMeans.fit``
  against scikit-learn's ``KMeans.fit`` at equal ``n_init`` (time, inertia).

Correctness is asserted too: neon_ext against a float64 numpy NEON on the
first 2000 rows (1e-9 relative for float64, 1e-4 for float32), and
conservation on every row.  The report ends with each goal of issue 5 and
whether it is met.  Sizes and thread counts are flags; nothing here is
specific to one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

import neon_ext as nx

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None


def measure(fn, reps, warmup=1):
    """(median, min, max) wall seconds and median CPU seconds over `reps` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), min(wall), max(wall), float(np.median(cpu))


def pause(seconds=0.3):
    """Let BLAS / OpenMP worker threads of the previous call stop spinning."""
    time.sleep(seconds)


def blobs(n, d, k, seed=0, dtype=np.float32, chunk=1 << 18):
    """Gaussian blobs: k centres uniform in [-10, 10]^d, unit noise; made in chunks."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(k, d))
    X = np.empty((n, d), dtype=dtype)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        X[lo:hi] = centers[rng.integers(k, size=hi - lo)] + rng.standard_normal((hi - lo, d), dtype=np.float32)
    return X, centers


def numpy_neon(X, C, beta, eps, out, chunk=1 << 15):
    """The best numpy NEON we could write: relevance of each row's assigned
    cluster, GEMM-factorized (NEON_SPEC.md section 1, with its absorbing
    stabilizer) and fused per chunk of rows, in X's dtype, in coordinates
    centred on the centroids, with in-place updates so that temporaries stay
    O(chunk x (K + 2D))."""
    dt = X.dtype
    D = X.shape[1]
    center = C.mean(0)
    P = C - center
    PP = np.hstack([P, P * P]).astype(dt)  # K x 2D: one product gives A P and A P^2
    Pt = P.T.astype(dt).copy()
    sq = (P * P).sum(1).astype(dt)
    center = center.astype(dt)
    idx = np.arange(chunk)
    for lo in range(0, len(X), chunk):
        hi = min(len(X), lo + chunk)
        r = idx[: hi - lo]
        Z = np.subtract(X[lo:hi], center)
        E = Z @ Pt
        E *= -2
        E += sq  # squared distances minus ||z||^2
        c = E.argmin(1)
        ec = E[r, c].copy()
        E[r, c] = np.inf
        f = E.min(1) - ec  # the logit: second nearest minus nearest
        E -= ec[:, None]  # h_k
        E[r, c] = 0
        kept = np.abs(E) > eps  # the absorbing stabilizer: |h_k| <= eps (and the target) leave the soft-min
        W = E - f[:, None]
        W *= -beta
        np.exp(W, out=W)
        W *= kept
        total = W.sum(1)
        np.divide(f, total, out=total, where=total > 0)  # no kept competitor: no relevance
        W *= total[:, None]  # soft-min shares R_k
        np.divide(W, E, out=W, where=kept)  # a_k = R_k / h_k
        W[r, c] = -W.sum(1)
        G = W @ PP
        np.multiply(Z, G[:, :D], out=Z)
        Z *= -2
        Z += G[:, D:]
        out[lo:hi] = Z
    return out


def line(name, t, floor=None, extra=""):
    med, lo, hi, cpu = t
    ratio = f"{med / floor:7.2f}x" if floor else " " * 8
    print(f"  {name:44s} {med:8.4f} s  [{lo:7.4f} - {hi:7.4f}]  cpu {cpu:7.4f} s  {ratio} {extra}")


def kmeans_section(a, results):
    threads = [int(t) for t in a.threads.split(",")]
    X, C = blobs(a.n, a.d, a.k)
    sk = None
    try:
        from sklearn.cluster import KMeans

        sk = KMeans(n_clusters=a.k, init=C, n_init=1, max_iter=1).fit(X[: min(len(X), 20000)])
        C = sk.cluster_centers_.astype(np.float64)
    except ImportError:
        pass
    m = nx.NeuralizedKMeans(C)
    beta = m.beta_heuristic(X)
    R = np.empty_like(X)
    X64 = X.astype(np.float64)
    R64 = np.empty_like(X64)
    Cf = C.astype(np.float32)
    print(
        f"\nk-means explain: N={a.n} D={a.d} K={a.k}, Gaussian blobs, beta={beta:.4g} (heuristic, fixed), "
        f"{a.reps} runs after a warm-up; median [min - max] wall, median CPU; ratio to the floor"
    )

    # --- correctness first: neon_ext against numpy NEON in float64 --------------
    sub = slice(0, min(a.n, 2000))
    ref = numpy_neon(X64[sub], C, beta, m.epsilon, np.empty_like(X64[sub]))
    e64 = m.explain(X64[sub], beta=beta)
    e32 = m.explain(X[sub], beta=beta)
    err64 = np.abs(e64.relevance - ref).max() / np.abs(ref).max()
    err32 = np.abs(e32.relevance - ref).max() / np.abs(ref).max()
    assert err64 < 1e-10, err64  # issue 12: float64 within 1e-10 of the equations
    assert err32 < 1e-5, err32  # float32 within 1e-5
    print(
        f"  check: neon_ext vs numpy NEON (float64, {sub.stop} rows): float64 {err64:.1e}, float32 {err32:.1e} relative"
    )
    pause()

    # neon_ext first: BLAS worker threads keep spinning for a while after each
    # BLAS call and would compete with neon_ext's threads; pause() lets them sleep.
    t = {}
    t["floor32"] = measure(lambda: np.multiply(X, 1.0, out=R), a.reps)
    t["floor64"] = measure(lambda: np.multiply(X64, 1.0, out=R64), a.reps)
    for th in threads:
        t[f"explain32_{th}"] = measure(lambda: m.explain(X, beta=beta, out=R, n_threads=th), a.reps)
    for th in threads:
        t[f"explain64_{th}"] = measure(lambda: m.explain(X64, beta=beta, out=R64, n_threads=th), a.reps)
    for th in threads:
        t[f"predict32_{th}"] = measure(lambda: m.predict(X, n_threads=th), a.reps)
    t["gemm"] = measure(lambda: X @ Cf.T, a.reps)
    pause()
    if sk is not None:
        t["sklearn_predict"] = measure(lambda: sk.predict(X), a.reps)
        pause()
    t["numpy32"] = measure(lambda: numpy_neon(X, C, beta, m.epsilon, R), max(1, a.reps // 2))
    pause()
    t["numpy64"] = measure(lambda: numpy_neon(X64, C, beta, m.epsilon, R64), max(1, a.reps // 2))
    pause()
    # The speed-up over numpy NEON once more, in alternating rounds (a
    # warmed-up call of each): the VM's speed drifts by 20% within seconds,
    # and the medians above are taken seconds apart.  A second's pause after
    # numpy: OpenBLAS workers spinning after 0.3 s still took neon_ext's
    # second core (explain 30-45% slower in some rounds).
    top = max(threads)
    paired = []
    for _ in range(max(3, a.reps // 2 + 1)):
        ours = measure(lambda: m.explain(X, beta=beta, out=R, n_threads=top), 1)[0]
        pause()
        theirs = measure(lambda: numpy_neon(X, C, beta, m.epsilon, R), 1, warmup=0)[0]
        pause(1.0)
        paired.append(theirs / ours)
    t["paired_speedup"] = paired

    f0 = t["floor32"][0]
    line("floor np.multiply(X, 1.0, out=R) float32", t["floor32"], f0)
    line("floor np.multiply(X, 1.0, out=R) float64", t["floor64"], f0)
    line("distance product X @ C.T (BLAS, float32)", t["gemm"], f0)
    if sk is not None:
        line("scikit-learn KMeans.predict (float32)", t["sklearn_predict"], f0)
    line("numpy NEON, fused GEMM form, float32", t["numpy32"], f0)
    line("numpy NEON, fused GEMM form, float64", t["numpy64"], f0)
    for th in threads:
        line(f"neon_ext predict float32, {th} thread(s)", t[f"predict32_{th}"], f0)
    for th in threads:
        line(f"neon_ext explain float32, {th} thread(s)", t[f"explain32_{th}"], f0)
    for th in threads:
        line(
            f"neon_ext explain float64, {th} thread(s)",
            t[f"explain64_{th}"],
            f0,
            f"({t[f'explain64_{th}'][0] / t['floor64'][0]:.2f}x its floor)",
        )

    # conservation on every row of the last runs
    for Xd, Rd, tol in ((X, R, 1e-4), (X64, R64, 1e-9)):
        e = m.explain(Xd, beta=beta, out=Rd)
        gap = np.abs(Rd.sum(1, dtype=np.float64) - e.logit) / np.maximum(np.abs(Rd).sum(1, dtype=np.float64), 1e-300)
        assert gap.max() < tol, gap.max()
    print("  check: relevance sums to the logit on every row (float32 1e-4, float64 1e-9 relative)")
    timings = {k: v for k, v in t.items() if k != "paired_speedup"}
    results["kmeans"] = (
        {k: v[0] for k, v in timings.items()}
        | {"cpu_" + k: v[3] for k, v in timings.items()}
        | {"paired_speedup": t["paired_speedup"]}
    )
    results["beta"] = beta
    return t, threads


RSS_CHILD = textwrap.dedent("""
    import json, sys, threading, time
    import numpy as np
    import neon_ext as nx

    path_x, path_r, beta = sys.argv[1], sys.argv[2], float(sys.argv[3])
    C = np.load(sys.argv[4])

    def rss_anon():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    X = np.load(path_x, mmap_mode="r")
    R = np.lib.format.open_memmap(path_r, mode="r+")
    m = nx.NeuralizedKMeans(C)
    m.explain(X[:1000], beta=beta)  # warm: imports, thread pool
    base = rss_anon()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon())
            time.sleep(0.001)

    s = threading.Thread(target=sample)
    s.start()
    t = time.perf_counter()
    e = m.explain(X, beta=beta, out=R)
    t = time.perf_counter() - t
    done.set()
    s.join()
    peak[0] = max(peak[0], rss_anon())
    per_row = e.logit.nbytes + e.assigned.nbytes + (0 if e.target is e.assigned else e.target.nbytes)
    R.flush()
    print(json.dumps({"seconds": t, "peak_anon_growth": peak[0] - base, "per_row_outputs": per_row,
                      "finite": bool(np.isfinite(R[-1000:]).all())}))
""")


def rss_section(a, results):
    n, d, k = a.rss_n, a.d, a.k
    need = 2 * n * d * 4
    tmp = tempfile.mkdtemp(prefix="neon_bench_", dir=a.tmpdir)
    free = shutil.disk_usage(tmp).free
    print(
        f"\nmemory: explain a memory-mapped {n} x {d} float32 file into a memory-mapped output "
        f"({need / 2**30:.2f} GiB on disk in {tmp}, {free / 2**30:.0f} GiB free)"
    )
    if free < 1.5 * need:
        print("  skipped: not enough free disk space (use --tmpdir or a smaller --rss-n)")
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        rng = np.random.default_rng(1)
        centers = rng.uniform(-10, 10, size=(k, d))
        X = np.lib.format.open_memmap(os.path.join(tmp, "X.npy"), mode="w+", dtype=np.float32, shape=(n, d))
        step = 1 << 18
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            X[lo:hi] = centers[rng.integers(k, size=hi - lo)] + rng.standard_normal((hi - lo, d), dtype=np.float32)
        X.flush()
        del X
        R = np.lib.format.open_memmap(os.path.join(tmp, "R.npy"), mode="w+", dtype=np.float32, shape=(n, d))
        del R
        np.save(os.path.join(tmp, "C.npy"), centers)
        beta = results.get("beta", 0.01)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                RSS_CHILD,
                os.path.join(tmp, "X.npy"),
                os.path.join(tmp, "R.npy"),
                repr(beta),
                os.path.join(tmp, "C.npy"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert r["finite"]
        growth, per_row = r["peak_anon_growth"], r["per_row_outputs"]
        print(
            f"  explain took {r['seconds']:.2f} s; peak anonymous memory growth {growth / 2**20:.1f} MiB, of which "
            f"{per_row / 2**20:.1f} MiB are the per-row results (logit, assigned, target: O(N) by design), "
            f"so {max(growth - per_row, 0) / 2**20:.1f} MiB of working memory"
        )
        results["rss"] = r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kernel_section(a, results):
    """Kernel k-means explain vs its own distance product (goal: <= 3x)."""
    n, M, d, k = a.kernel_n, a.kernel_m, a.d, 8
    print(f"\nkernel k-means explain: N={n} M={M} support vectors D={d} K={k}, float32")
    if not hasattr(nx, "NeuralizedKernelKMeans"):
        print("  skipped: this build has no NeuralizedKernelKMeans")
        return
    try:
        rng = np.random.default_rng(0)
        centers = 3.0 * rng.normal(size=(k, d))
        labels = rng.integers(k, size=n + M)
        labels[:k] = np.arange(k)
        data = (centers[labels] + rng.normal(size=(n + M, d))).astype(np.float32)
        U, L, X = data[:M].astype(np.float64), labels[:M], data[M:]
        gamma = nx.kernel_kmeans.median_heuristic_gamma(U)
        m = nx.NeuralizedKernelKMeans(U, L, gamma)
        beta = m.beta_heuristic(X[:5000])
        Uf, out = U.astype(np.float32), np.empty_like(X)
        t_expl = measure(lambda: m.explain(X, beta=beta, out=out), max(1, a.reps // 2))
        t_gemm = measure(lambda: X @ Uf.T, a.reps)
        pause()
    except Exception as exc:  # an API this script does not know yet: report, do not fail
        print(f"  skipped: {type(exc).__name__}: {exc}")
        return
    line("distance product X @ U.T (BLAS, float32)", t_gemm, t_gemm[0])
    line("neon_ext kernel k-means explain float32", t_expl, t_gemm[0])
    results["kernel"] = {"gemm": t_gemm[0], "explain": t_expl[0], "cpu_gemm": t_gemm[3], "cpu_explain": t_expl[3]}


def fit_section(a, results):
    """neon_ext.KMeans.fit vs scikit-learn at equal n_init (goal: no slower, inertia <= 1.01x)."""
    print(f"\nKMeans.fit: D={a.d} K={a.k}, n_init={a.fit_n_init}, Gaussian blobs")
    if not hasattr(nx, "KMeans"):
        print("  skipped: this build has no neon_ext.KMeans")
        return
    try:
        from sklearn.cluster import KMeans as SkKMeans
    except ImportError:
        print("  skipped: scikit-learn is not installed")
        return
    results["fit"] = {}
    for n in a.fit_n:
        X, _ = blobs(n, a.d, a.k, seed=3)
        try:
            fits = {}
            for name, make in (
                ("scikit-learn", lambda: SkKMeans(n_clusters=a.k, n_init=a.fit_n_init, random_state=0)),
                ("neon_ext", lambda: nx.KMeans(n_clusters=a.k, n_init=a.fit_n_init, random_state=0)),
            ):
                models = []
                t = measure(lambda: models.append(make().fit(X)), a.fit_reps, warmup=0)
                fits[name] = (t, float(models[-1].inertia_))
                pause()
        except Exception as exc:
            print(f"  skipped: {type(exc).__name__}: {exc}")
            return
        sk_t, sk_in = fits["scikit-learn"]
        nx_t, nx_in = fits["neon_ext"]
        line(f"scikit-learn KMeans.fit N={n}", sk_t, sk_t[0], f"inertia {sk_in:.6g}")
        line(f"neon_ext KMeans.fit N={n}", nx_t, sk_t[0], f"inertia {nx_in:.6g} ({nx_in / sk_in:.4f}x)")
        results["fit"][n] = {"sklearn": sk_t[0], "neon_ext": nx_t[0], "inertia_ratio": nx_in / sk_in}


def goals(a, t, threads, results):
    print("\ngoals (issues 5 and 12):")

    def verdict(ok):
        return "met" if ok else "NOT met"

    if t is None:
        t = {}
    if t:
        kmeans_goals(t, threads, verdict)

    extra_goals(results, verdict)


def kmeans_goals(t, threads, verdict):
    floor = t["floor32"][0]
    best = {th: t[f"explain32_{th}"][0] for th in threads}
    top = max(threads)
    r32 = best[top] / floor
    print(f"  explain float32 ({top} threads) / floor: {r32:.2f}x (goal <= 2.5, issue 12): {verdict(r32 <= 2.5)}")
    r64 = t[f"explain64_{top}"][0] / t["floor64"][0]
    print(f"  explain float64 ({top} threads) / float64 floor: {r64:.2f}x (goal <= 3): {verdict(r64 <= 3)}")
    sp = t["numpy32"][0] / best[top]
    paired = t["paired_speedup"]
    sp_paired = float(np.median(paired))
    print(
        f"  speed-up over numpy NEON float32: {sp_paired:.1f}x, median of {len(paired)} alternating rounds"
        f" ({', '.join(f'{v:.1f}' for v in paired)}; the medians above give {sp:.1f}x) (goal >= 10): {verdict(sp_paired >= 10)}"
    )
    # On a shared machine wall time counts waiting for a core; the kernel's own
    # cost is its CPU time.  One thread against the floor's one thread:
    c1 = t[f"explain32_{min(threads)}"][3] / t["floor32"][3]
    print(
        f"  [cpu time: explain float32 {min(threads)} thread(s) {t[f'explain32_{min(threads)}'][3]:.4f} s = {c1:.2f}x"
        f" the floor's {t['floor32'][3]:.4f} s; numpy NEON float32 {t['numpy32'][3]:.3f} s cpu]"
    )
    if 1 in threads and 2 in threads:
        s = t["explain32_1"][0] / t["explain32_2"][0]
        s64 = t["explain64_1"][0] / t["explain64_2"][0]
        print(
            f"  1 -> 2 threads: float32 {s:.2f}x, float64 {s64:.2f}x (goal >= 1.8): {verdict(min(s, s64) >= 1.8)}"
            f"  [cpu time 1 thread / 2 threads: {t['explain32_1'][3]:.3f} / {t['explain32_2'][3]:.3f} s]"
        )


def extra_goals(results, verdict):
    if "rss" in results:
        work = max(results["rss"]["peak_anon_growth"] - results["rss"]["per_row_outputs"], 0)
        print(
            f"  working memory beyond X, R and the per-row results: {work / 2**20:.1f} MiB (goal <= 64 MiB): "
            f"{verdict(work <= 64 * 2**20)}"
        )
    if "kernel" in results:
        r = results["kernel"]["explain"] / results["kernel"]["gemm"]
        print(f"  kernel k-means explain / X @ U.T: {r:.2f}x (goal <= 3): {verdict(r <= 3)}")
    for n, f in results.get("fit", {}).items():
        r = f["neon_ext"] / f["sklearn"]
        print(
            f"  KMeans.fit N={n}: {r:.2f}x scikit-learn's time (goal <= 1), inertia {f['inertia_ratio']:.4f}x "
            f"(goal <= 1.01): {verdict(r <= 1 and f['inertia_ratio'] <= 1.01)}"
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=float, default=1e6, help="rows (default 1e6)")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--reps", type=int, default=7, help="timed runs after one warm-up (default 7)")
    p.add_argument("--threads", default="1,2", help="neon_ext thread counts, comma separated")
    p.add_argument("--rss-n", type=float, default=1e7, help="rows of the memory-mapped run (default 1e7)")
    p.add_argument(
        "--no-rss",
        action="store_true",
        help="skip the memory-mapped subprocess (same as leaving rss out of --sections)",
    )
    p.add_argument("--tmpdir", default=None, help="where the memory-mapped files go (default: the system temp dir)")
    p.add_argument("--kernel-n", type=float, default=1e5, help="rows of the kernel k-means run (default 1e5)")
    p.add_argument("--kernel-m", type=int, default=2000, help="support vectors of the kernel k-means run")
    p.add_argument("--fit-n", default="1e5,1e6", help="rows of the KMeans.fit runs, comma separated")
    p.add_argument("--fit-n-init", type=int, default=3)
    p.add_argument("--fit-reps", type=int, default=1)
    p.add_argument(
        "--sections",
        default="kmeans,rss,kernel,fit",
        help="which parts to run, comma separated (default all: kmeans,rss,kernel,fit)",
    )
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    a = p.parse_args()
    a.n, a.rss_n, a.kernel_n = int(a.n), int(a.rss_n), int(a.kernel_n)
    a.fit_n = [int(float(v)) for v in a.fit_n.split(",") if v]
    sections = set(a.sections.split(","))
    if a.no_rss:
        sections.discard("rss")

    info = nx.build_info()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(
        f"neon_ext {info['version']} ({info['compiler']}, kernels {info['kernel_isa']} of {info['kernel_isas']}, "
        f"OpenMP {info['openmp']} default threads {info['openmp_default_threads']}); numpy {np.__version__}; "
        f"{cpu}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    results = {"build": info, "args": vars(a)}
    t, threads = kmeans_section(a, results) if "kmeans" in sections else (None, None)
    if "rss" in sections:
        rss_section(a, results)
    if "kernel" in sections:
        kernel_section(a, results)
    if "fit" in sections:
        fit_section(a, results)
    goals(a, t, threads, results)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
