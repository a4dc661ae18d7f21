#!/usr/bin/env python3
"""Per-phase split of an ALS iteration (CPU time of one thread in each phase).

Copies the repository to a temporary folder, inserts rdtsc timers into
native/core/als/als.cpp (the copy only: the library itself carries no timers),
builds the core library and bench/tools/als-driver.cpp against it, runs the
driver and prints, for the second (timed) iteration of each fit, the min and
median over the repetitions of:
  - the fit's phases (wall seconds): the users half, the user Gram, the streamed
    hot items, the items half (gathered rows), the half copies and Grams;
  - inside the per-row solver, per half (seconds summed over threads): the gather
    with the fused residual, the CG matvec passes, the last step's curvature
    pass, the k x k products with the Gram matrix (symv), the CG vector
    operations, the coefficients (confidence weights) of each row.
Run it with one thread for a clean split (the sums then equal wall time).

  python3 bench/tools/als-phases.py [factors=64] [threads=1] [reps=3]
  (flock /work/.bench.lock python3 bench/tools/als-phases.py 64 1 5 on the shared VM)

The insertions match the code as of 2026-11-23; if als.cpp changes, the
script stops and names the line it could not find.
"""
import os, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
factors, threads, reps = (sys.argv[1:] + ['64', '1', '3'][len(sys.argv) - 1:])[:3]

def lit(line):
    """A whole source line, matched literally (leading spaces included)."""
    return '^' + re.escape(line) + r'\n'


T0 = '    PROF_T0\n'
# (regex, replacement): each regex must match exactly once; \g<0> is the matched text.
EDITS = [
    (lit('namespace fastrec::als {') + lit('namespace {'),
     '#include <x86intrin.h>\n#include <cstdio>\n'
     'namespace fastrec::als { int g_half = 0; uint64_t g_prof[2][8]; }\n'
     '#define PROF_T0 uint64_t _pt = __rdtsc();\n'
     '#define PROF(i) do { uint64_t _n = __rdtsc(); g_prof[g_half][i] += _n - _pt; _pt = _n; } while (0)\n\\g<0>'),
    # Per-row solver: 0 gather + residual, 1 matvec, 2 curvature, 3 symv (Gram and preconditioner products, diagonal in the eigenbasis), 4 vector ops, 6 coefficients.
    (lit('    float* tmp = s.tmp.data();'), '\\g<0>' + T0),
    (lit('    plan_prefetch(next, s);'), '    PROF(0);\n\\g<0>'),
    (lit('    std::memcpy(p, z, ld_ * sizeof(float));'), '\\g<0>    PROF(3);\n'),
    (lit('      const float rz_new = precondition(r, z, tmp);'), '      PROF(4);\n\\g<0>      PROF(3);\n'),
    (lit('        double pap = curvature(n, s, p);'), '        PROF(4);\n\\g<0>        PROF(2);\n'),
    (lit('        pap += static_cast<double>(lam) * static_cast<double>(S_.dot(p, p, d_));'), '        PROF(3);\n\\g<0>'),
    (lit('      matvec(row, n, s, gathered, 1.0f, nullptr, p, ap, cfg_.cg_steps - step);'),
     '      PROF(4);\n\\g<0>      PROF(1);\n'),
    (lit('      if (has_base()) add_base(p, ap);'), '\\g<0>      PROF(3);\n'),
    (r'^    prefetch_next\(s, s\.next_n\);.*\n', '    PROF(4);\n\\g<0>'),
    (lit('    const size_t n = coefficients(row, s);'), T0 + '\\g<0>    PROF(6);\n'),
    # fit(): wall time of each phase of an iteration.
    (lit('    const auto t0 = std::chrono::steady_clock::now();'),
     '\\g<0>    auto T = [] { return std::chrono::steady_clock::now(); };\n'
     '    auto D = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };\n'
     '    auto q0 = T(); const uint64_t c0 = __rdtsc();\n    for (auto& h : g_prof) for (auto& v : h) v = 0;\n'),
    (lit('    if (half_gather) use_half_copy(model.item_factors, users);'), '\\g<0>    auto q1 = T(); g_half = 0;\n'),
    (r'^    run_rows\(ui, user_order\.data\(\)[^;]*;\n', '\\g<0>    auto q2 = T();\n'),
    (r'^    if \(streamed\) \{\n', '    auto q3 = T();\n\\g<0>'),
    (lit('    if (half_gather) use_half_copy(model.user_factors, items);'), '    auto q4 = T();\n\\g<0>'),
    (r'^    run_rows\(iu, gathered_items\.data\(\)', '    auto q5 = T(); g_half = 1;\n\\g<0>'),
    (r'^(    if \(cfg\.implicit\) item_gram = [^\n]*\n)(    double loss = 0\.0 / 0\.0;\n)',
     '    auto q6 = T();\n\\1'
     '    auto q7 = T(); const double hz = (__rdtsc() - c0) / D(q0, q7);\n'
     '    fprintf(stderr, "PROF %zu half-copy+base %.4f users %.4f user-gram %.4f stream %.4f half-copy %.4f items %.4f item-gram %.4f total %.4f\\\\n",\n'
     '            it, D(q0,q1), D(q1,q2), D(q2,q3), D(q3,q4), D(q4,q5), D(q5,q6), D(q6,q7), D(q0,q7));\n'
     '    const char* nm[7] = {"gather+residual", "matvec", "curvature", "symv", "vector-ops", "tail", "coefficients"};\n'
     '    for (int h = 0; h < 2; ++h) { fprintf(stderr, "PROF %zu", it);\n'
     '      for (int i = 0; i < 7; ++i) if (i != 5) fprintf(stderr, " %s.%s %.4f", h ? "items" : "users", nm[i], g_prof[h][i] / hz);\n'
     '      fprintf(stderr, "\\\\n"); }\n\\2'),
]


def main():
    tmp = tempfile.mkdtemp(prefix='als-phases-')
    src, build = os.path.join(tmp, 'src'), os.path.join(tmp, 'build')
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('build', 'node_modules', '.git', 'dist'))
    path = os.path.join(src, 'native/core/als/als.cpp')
    text = open(path).read()
    for pattern, repl in EDITS:
        text, count = re.subn(pattern, repl, text, flags=re.M)
        if count != 1:
            sys.exit(f'als-phases: als.cpp changed: {count} matches (expected 1) for {pattern}')
    open(path, 'w').write(text)
    run = lambda *a, **k: subprocess.run(a, check=True, **k)
    run('cmake', '-S', src, '-B', build, '-G', 'Ninja', '-DFASTREC_TESTS=OFF', '-DCMAKE_BUILD_TYPE=Release', stdout=subprocess.DEVNULL)
    run('ninja', '-C', build, 'fastrec_core', stdout=subprocess.DEVNULL)
    driver = os.path.join(tmp, 'als-driver')
    run('g++', '-O2', '-std=c++17', '-I' + os.path.join(src, 'native/core'), '-I' + os.path.join(src, 'bench/tools'),
        os.path.join(src, 'bench/tools/als-driver.cpp'), os.path.join(build, 'libfastrec_core.a'), '-lpthread', '-o', driver)
    out = subprocess.run([driver, factors, threads, reps], env={**os.environ, 'VARIANTS': '1:1'},
                         capture_output=True, text=True, check=True)
    phases = {}
    for line in out.stderr.splitlines():
        if line.startswith('PROF 2 '):
            for name, value in re.findall(r'(\S+) ([0-9.]+)', line[len('PROF 2 '):]):
                phases.setdefault(name, []).append(float(value))
    print(out.stdout.strip().splitlines()[0])
    print(f'factors {factors}, threads {threads}, {reps} fits; second iteration of each; seconds min / median')
    for name, xs in phases.items():
        xs.sort()
        print(f'  {name:28s} {xs[0]:7.3f} / {xs[len(xs) // 2]:7.3f}')
    shutil.rmtree(tmp)


main()
