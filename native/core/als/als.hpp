// Alternating least squares for implicit and explicit feedback.
//
// Implicit (Hu, Koren, Volinsky 2008; iALS weight on unobserved cells as in
// Rendle et al. 2022). With R the users x items matrix of weights w_ui >= 0:
//
//   L(X, Y) = sum_{u,i observed} c_ui (1 - x_u.y_i)^2
//           + w0 * sum_{u,i unobserved} (x_u.y_i)^2
//           + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2
//
// with confidence c_ui = 1 + alpha w_ui ("linear", HKV) or alpha w_ui
// ("proportional", the `implicit` library's convention) and w0 the
// unobserved weight (1 in HKV). Fixing Y, each x_u solves
//
//   (w0 YᵀY + Y_uᵀ (C_u - w0) Y_u + lambda_u I) x_u = Y_uᵀ c_u        (1)
//
// where Y_u holds the factors of u's observed items: YᵀY is shared by all
// rows, the correction touches only the observed ones.
//
// Implicit with a learned item bias (Config::item_bias): the score is
// s_ui = x_u.y_i + b_i and the objective
//
//   L = sum_{observed} c_ui (1 - s_ui)^2 + w0 * sum_{unobserved} s_ui^2
//     + sum_u lambda_u |x_u|^2 + sum_i (lambda_i |y_i|^2 + lambda_b b_i^2)
//
// with lambda_b = Config::item_bias_regularization, a constant (not scaled by
// the row's count). It is ALS on augmented vectors x'_u = [x_u, 1] (the 1 is
// fixed) and y'_i = [y_i, b_i]:
// * items half (X fixed): the implicit equations (1) for y'_i against the
//   fixed rows x'_u, with G' = X'ᵀX' = [[XᵀX, Xᵀ1], [1ᵀX, n_users]] in place of
//   YᵀY and diag(lambda_i,..., lambda_i, lambda_b) as the regularization:
//     (w0 G' + X'_iᵀ (C_i - w0) X'_i + Lambda_i) y'_i = X'_iᵀ c_i          (2)
// * users half (Y, b fixed): setting the gradient in x_u to zero, with every
//   cell's residual p_ui - b_i - x_u.y_i (p = 1 observed, 0 unobserved),
//     (w0 YᵀY + Y_uᵀ (C_u - w0) Y_u + lambda_u I) x_u
//        = Y_uᵀ (c_u - (c_u - w0) ∘ b_{I_u}) - w0 Yᵀb                     (3)
//   i.e. (1) with right-hand weights c_uj - (c_uj - w0) b_j on the observed
//   items and one vector -w0 Yᵀb shared by every user. YᵀY and Yᵀb both come
//   from the Gram matrix of [Y, b] ((k+1) x (k+1)), computed once per half.
//
// Explicit (biased matrix factorization for ratings r_ui):
//
//   L = sum_{observed} (r_ui - mu - b_u - b_i - x_u.y_i)^2
//     + sum_u lambda_u (|x_u|^2 + b_u^2) + sum_i lambda_i (|y_i|^2 + b_i^2)
//
// solved with augmented vectors x'_u = [x_u, b_u], y'_i = [y_i, 1] and
// targets r_ui - mu - b_i: (Y'_uᵀ Y'_u + lambda_u I) x'_u = Y'_uᵀ t_u; the
// item step is symmetric. mu is the global mean (fixed).
//
// Regularization lambda_u = lambda * s(n_u) with n_u the row's count:
// s = 1 ("none"), n_u ("count", ALS-WR, Zhou et al. 2008) or
// (n_u + w0 * n_other)^nu ("frequency", Rendle et al. 2022; w0 = 0 for explicit).
//
// Solvers: exact Cholesky in float64 on the d x d system, or conjugate
// gradient with a fixed number of steps started from the previous value
// (Takács, Pilászy, Tikk 2011). Both gather the row's factor vectors once
// into a per-thread buffer and work there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/cancel.hpp"
#include "sparse/csr.hpp"

namespace fastrec::als {

enum class Confidence { Linear, Proportional };
enum class Solver { CG, Cholesky };
enum class RegScaling { None, Count, Frequency };
// Which copy of the fixed side fit() with CG gathers rows from (Cholesky always
// reads float32): the factors themselves, an IEEE half copy, or int8 rows with
// one float scale each, made once per half-iteration. Fewer bytes per random
// read; the solve itself stays float32, against the float32 Gram matrix.
enum class Gather { Float32, Float16, Int8 };

struct Config {
  size_t factors = 64;
  bool implicit = true;
  Confidence confidence = Confidence::Linear;
  float alpha = 1.0f;
  float unobserved_weight = 1.0f;  // w0 (implicit only)
  float regularization = 0.01f;
  RegScaling reg_scaling = RegScaling::None;
  float nu = 1.0f;
  Solver solver = Solver::CG;
  size_t cg_steps = 2;
  // Implicit CG: precondition each row's system with M = w0 G + lambda I, the
  // part every row of a half shares (the Gram term dominates light rows), so
  // that a step is not slowed by the Gram's spread of eigenvalues. M⁻¹ is made
  // once per half, with the median row's lambda when lambda is scaled per row.
  // Any SPD M keeps CG exact in the limit; this one makes 2 steps land closer
  // to the exact solution than 3 plain ones (bench/README.md).
  bool precondition = true;
  // fit() with implicit preconditioned CG: solve each users half in the
  // eigenbasis of YᵀY (both factor tables rotated by its eigenvectors V, which
  // changes no score), where w0 YᵀY and M are diagonal: each user's k x k
  // products become k multiplications, and the one product left rotates the
  // user's warm start. The same iterates as without it, up to rounding. Used
  // when there are at least 32 k users (the decomposition costs O(k^3)).
  bool eigenbasis = true;
  Gather gather = Gather::Float32;
  // Gather::Float16 with CG: keep each row's gathered vectors as halves and
  // widen them in registers during the CG passes (the same bits as widening
  // them while gathering; half the buffer). false: widen while gathering.
  bool half_buffer = true;
  // fit() with implicit CG: solve the most frequent items by streaming the
  // user rows instead of gathering each item's users (als/stream.hpp); the
  // same equations, summed in another order. The two limits pick which items
  // (0: automatic: rows too long for L2, as many as keep their CG vectors in L2).
  bool stream_items = true;
  // Implicit only: learn an item bias b_i (score x_u.y_i + b_i; see (2), (3)),
  // regularized by item_bias_regularization (lambda_b). The streamed items
  // half does not handle it: such fits gather every item's users.
  bool item_bias = false;
  float item_bias_regularization = 0.1f;
  size_t stream_min_count = 0;
  size_t stream_max_items = 0;
};

// Throws InvalidArgument for values that make no sense (0 factors, negative
// regularization, NaN...).
void validate(const Config& config);

// A trained (or initialized) model. Factors are row-major, `factors` floats per row.
struct Model {
  size_t users = 0, items = 0, factors = 0;
  std::vector<float> user_factors, item_factors;
  std::vector<float> user_bias, item_bias;  // explicit: both; implicit with item_bias: item_bias only (else empty)
  float global_mean = 0.0f;                  // explicit only
};

// Zeroed storage for factors, advised for 2 MiB pages on Linux (fewer TLB
// misses in the random gathers).
std::vector<float> huge_vector(size_t n);

// The preconditioner of implicit CG (Config::precondition): the inverse of
// M = base + lambda I, with lambda_b in place of lambda on the bias coordinate
// of augmented rows (d = k + 1), padded to ld x ld like base. Empty when M is
// not positive definite or nearly singular (CG then runs unpreconditioned).
std::vector<float> cg_preconditioner(const float* base, size_t k, bool augmented, double lambda, double bias_lambda);
// Eigen-decomposition of the symmetric n x n matrix `a` (row-major) by cyclic
// Jacobi rotations: on return a is diagonal up to rounding (the eigenvalues)
// and `vectors` (n x n) holds the eigenvectors as columns, so that the input
// equals vectors * diag(a) * vectorsᵀ. Starting near-diagonal (as the Gram of
// factors rotated last iteration is) it needs only a sweep or two.
void symmetric_eigen(std::vector<double>& a, size_t n, std::vector<double>& vectors);

// z = P r over d coordinates (written to buf, padded to ld with zeros), or
// z = r when P is null (plain CG); returns rᵀz.
float apply_preconditioner(const float* P, size_t d, size_t ld, const float* r, float* buf, const float*& z);

// Seeded initialization: uniform in [-s, s) with s = 0.1 / sqrt(factors),
// biases 0, global mean of `user_items` for explicit models.
Model init_model(const CsrView& user_items, const Config& config, uint64_t seed);

struct FitOptions {
  size_t iterations = 15;
  size_t threads = 0;
  bool compute_loss = false;
  const CancelToken* cancel = nullptr;
  // After each iteration (1-based); loss is NaN unless compute_loss.
  std::function<void(size_t iteration, double seconds, double loss)> progress;
};

struct FitResult {
  double loss = 0.0 / 0.0;   // last loss (NaN unless computed)
  // YᵀY of the final item factors (factors x factors), for fold-in; with
  // item_bias the Gram matrix of [Y, b] ((factors + 1) squared, see gram_of_fixed).
  std::vector<float> item_gram;
};

// Train `model` in place: `user_items` is users x items, `item_users` its
// transpose. Each iteration solves all users, then all items.
FitResult fit(const CsrView& user_items, const CsrView& item_users, const Config& config, const FitOptions& options,
              Model& model);

// Objective above divided by the number of observed cells.
double loss(const CsrView& user_items, const CsrView& item_users, const Config& config, const Model& model,
            size_t threads);

// Gram matrix FᵀF (d x d, row-major) of `rows` factor vectors, summed in a
// fixed order (same result for any thread count).
std::vector<float> gram(const float* factors, size_t rows, size_t d, size_t threads);

// The Gram matrix the implicit solves need of a fixed side with k = config.factors:
// FᵀF (k x k) without item_bias; with it, the Gram of [F, column] ((k+1) x (k+1)),
// `column` being the item biases (users half) or, when null, all ones (items half).
std::vector<float> gram_of_fixed(const float* f, const float* column, size_t rows, const Config& config,
                                 size_t threads);

// IEEE half copy of f[0..n) into out, times the returned scale: a power of
// two that puts the largest magnitude in [2^14, 2^15), so nothing overflows
// and only values 2^-28 below the largest become subnormal. Returns 0 (out
// unspecified) when f holds a non-finite value.
float half_copy(const float* f, size_t n, uint16_t* out, size_t threads);
// 8-bit copy of rows x k floats: out[r k + c] * scale[r] ~ f[r k + c], with
// scale[r] = max_c |f[r k + c]| / 127 (symmetric, error <= scale[r] / 2).
// Returns false (out unusable) when some value is not finite.
bool int8_copy(const float* f, size_t rows, size_t k, int8_t* out, float* scale, size_t threads);

// Re-solve selected rows of one side against the fixed other side.
// `m` is target x fixed (rows of the matrix are the target rows); `rows` lists
// the rows to solve; results go to target[r * factors..] (and target_bias[r]).
// `fixed_gram` is gram_of_fixed() of the fixed side (computed when null).
// exact = true uses Cholesky whatever config.solver says.
// With item_bias, the users half passes fixed_bias = the item biases (and no
// target_bias); the items half passes no fixed_bias (the users' constant 1)
// and target_bias = the item biases.
struct Side {
  const float* fixed = nullptr;       // n_fixed x factors
  const float* fixed_bias = nullptr;  // explicit; implicit with item_bias: the users half's item biases
  size_t n_fixed = 0;
  float* target = nullptr;            // m.rows x factors (in/out: CG warm start)
  float* target_bias = nullptr;       // explicit; implicit with item_bias: the items half's item biases
  float global_mean = 0.0f;
  // Optional half copy of `fixed` times fixed_half_scale (a power of two):
  // when set, rows are gathered from it instead (see Config::gather).
  const uint16_t* fixed_half = nullptr;
  float fixed_half_scale = 1.0f;
  // Optional 8-bit copy (Config::gather): row r = fixed_i8[r k..] * fixed_row_scale[r].
  const int8_t* fixed_i8 = nullptr;
  const float* fixed_row_scale = nullptr;
};
void solve_rows(const CsrView& m, const int32_t* rows, size_t n_rows, const Side& side, const float* fixed_gram,
                const Config& config, bool exact, size_t threads, const CancelToken* cancel);

// Fold-in (a user described by a history, solved exactly against the fixed
// side) prepared once per model: the config checked and the shared term
// w0 G padded, so that each fold_in() builds only the history's system.
// `side` keeps pointers to the fixed arrays: they must outlive the plan.
struct FoldInPlan {
  Config config;
  Side side;
  std::vector<float> base, base_rhs;
};
FoldInPlan plan_fold_in(const Side& side, const float* fixed_gram, const Config& config);
// The factors (x, config.factors floats) and bias (explicit models; else 0)
// of the user whose history is row 0 of `history` (a 1-row CSR over the
// fixed side, sorted unique columns).
void fold_in(const FoldInPlan& plan, const CsrView& history, float* x, float* bias);

// Exact decomposition of a folded-in user's score for `item` over their
// history (row 0 of `history`, a 1-row CSR over the fixed side):
// with W the left-hand matrix of (1) and W z = y'_item, the score is
//   sum_j b_j * <z, y'_j>  (+ mu + b_item for explicit models)
// where b_j = c_uj (implicit) or r_uj - mu - b_j (explicit). Returns the
// per-history-item terms b_j * <z, y'_j>. With item_bias, (3) gives
//   x_u.y_item = sum_j (c_uj - (c_uj - w0) b_j) <z, y_j> - w0 <z, Yᵀb>
// and the returned vector has one more value at the end: the shared term
// -w0 <z, Yᵀb> (the score adds b_item to both).
std::vector<float> explain(const CsrView& history, const Side& side, const float* fixed_gram, const Config& config,
                           int32_t item);

}  // namespace fastrec::als
