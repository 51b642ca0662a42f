// VladNormalize and VladNormalizeGrad: NetVLAD's and NetRVLAD's float32 descriptor after its product,
// forward and backward, each in one pass over the (batch, D, K) tensor per batch row.
//
// LOUPE's NetVLAD (loupe.py, NetVLAD.forward) subtracts the centres weighted by the assignment's mass,
// normalises each cluster's column (tf.nn.l2_normalize over D), then the whole vector: TensorFlow runs
// these as separate operations, each a pass over memory, and their gradient as a dozen more. Here one
// batch row's slab (D x K floats, 1 MiB at K = D = 512) is subtracted and its column norms summed, then
// scaled while it is still in the processor's cache; the gradient is the same in two passes over the
// upstream gradient and the descriptor. The columns are those of networks/kernels.py `_vlad_columns`
// bit for bit before the scaling (float32 subtraction of the float32 product c * s, no fused multiply-add:
// built with -ffp-contract=off); the norms are summed in double and the factors of `double_l2_scale`
// computed in double, so results differ from TensorFlow's by float32 rounding (tests/test_descriptor.py).
// Built on first use by networks/native.py; networks/fused_descriptor.py wraps it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

using namespace tensorflow;
using shape_inference::InferenceContext;

REGISTER_OP("VladNormalize")
    .Input("columns: float")         // (B, D, K): X'A
    .Input("centres: float")         // (D, K); no elements for NetRVLAD (no centres)
    .Input("mass: float")            // (B, K): sum over frames of the assignment; unused without centres
    .Output("descriptor: float")     // (B, D, K)
    .Output("squared_norms: float")  // (B, K): the columns' squared norms before the scaling
    .SetShapeFn([](InferenceContext* c) {
      shape_inference::ShapeHandle columns;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &columns));
      c->set_output(0, columns);
      c->set_output(1, c->Matrix(c->Dim(columns, 0), c->Dim(columns, 2)));
      return OkStatus();
    });

REGISTER_OP("VladNormalizeGrad")
    .Input("upstream: float")        // (B, D, K)
    .Input("descriptor: float")      // VladNormalize's outputs
    .Input("squared_norms: float")
    .Input("centres: float")
    .Input("mass: float")
    .Output("columns_grad: float")   // (B, D, K)
    .Output("centres_grad: float")   // the centres' shape
    .Output("mass_grad: float")      // the mass's shape
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(3));
      c->set_output(2, c->input(4));
      return OkStatus();
    });

namespace {

constexpr double kEpsilon = 1e-12;  // tf.nn.l2_normalize's

// The factors of double_l2_scale: r_k = 1/sqrt(max(ss_k, eps)), g = 1/sqrt(max(sum_k ss_k r_k^2, eps)).
struct Factors {
  std::vector<double> r;
  double total = 0, g = 0;
  Factors(const float* ss, int64_t k) : r(k) {
    for (int64_t j = 0; j < k; ++j) {
      r[j] = 1.0 / std::sqrt(std::max<double>(ss[j], kEpsilon));
      total += ss[j] * r[j] * r[j];
    }
    g = 1.0 / std::sqrt(std::max(total, kEpsilon));
  }
};

Status CheckShapes(const Tensor& columns, const Tensor& centres, const Tensor& mass, bool* with_centres) {
  if (columns.dims() != 3) return errors::InvalidArgument("VladNormalize: columns must be (batch, D, K)");
  const int64_t b = columns.dim_size(0), d = columns.dim_size(1), k = columns.dim_size(2);
  *with_centres = centres.NumElements() > 0;
  if (*with_centres) {
    if (centres.shape() != TensorShape({d, k}))
      return errors::InvalidArgument("VladNormalize: centres must be (D, K) ", d, " x ", k);
    if (mass.shape() != TensorShape({b, k}))
      return errors::InvalidArgument("VladNormalize: mass must be (batch, K)");
  }
  return OkStatus();
}

// `work(begin, end)` over batch rows [0, rows), a row per task, on TensorFlow's CPU worker threads.
template <typename Work>
void ForRows(OpKernelContext* ctx, int64_t rows, Work work) {
  if (rows <= 1) {
    work(0, rows);
    return;
  }
  ctx->device()->tensorflow_cpu_worker_threads()->workers->TransformRangeConcurrently(1, rows, work);
}

class VladNormalizeOp : public OpKernel {
 public:
  explicit VladNormalizeOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& columns = ctx->input(0);
    const Tensor& centres = ctx->input(1);
    const Tensor& mass = ctx->input(2);
    bool with_centres;
    OP_REQUIRES_OK(ctx, CheckShapes(columns, centres, mass, &with_centres));
    const int64_t b = columns.dim_size(0), d = columns.dim_size(1), k = columns.dim_size(2);
    Tensor* out = nullptr;
    Tensor* norms = nullptr;
    // In place where the product's buffer is this operation's alone (the usual case in a step).
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, columns.shape(), &out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({b, k}), &norms));
    const float* in = columns.flat<float>().data();
    float* y = out->flat<float>().data();
    float* ss = norms->flat<float>().data();
    const float* c = with_centres ? centres.flat<float>().data() : nullptr;
    const float* s = with_centres ? mass.flat<float>().data() : nullptr;
    ForRows(ctx, b, [=](int64_t begin, int64_t end) {
      std::vector<double> sum(k);
      std::vector<float> scale(k);
      for (int64_t row = begin; row < end; ++row) {
        const float* x = in + row * d * k;
        float* o = y + row * d * k;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (int64_t i = 0; i < d; ++i) {
          const float* xi = x + i * k;
          float* oi = o + i * k;
          if (c != nullptr) {
            const float* ci = c + i * k;
            const float* si = s + row * k;
            for (int64_t j = 0; j < k; ++j) {
              const float product = ci[j] * si[j];
              const float v = xi[j] - product;
              oi[j] = v;
              sum[j] += static_cast<double>(v) * v;
            }
          } else {
            for (int64_t j = 0; j < k; ++j) {
              const float v = xi[j];
              oi[j] = v;
              sum[j] += static_cast<double>(v) * v;
            }
          }
        }
        for (int64_t j = 0; j < k; ++j) ss[row * k + j] = static_cast<float>(sum[j]);
        const Factors f(ss + row * k, k);
        for (int64_t j = 0; j < k; ++j) scale[j] = static_cast<float>(f.r[j] * f.g);
        for (int64_t i = 0; i < d; ++i) {
          float* oi = o + i * k;
          for (int64_t j = 0; j < k; ++j) oi[j] *= scale[j];
        }
      }
    });
  }
};

class VladNormalizeGradOp : public OpKernel {
 public:
  explicit VladNormalizeGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& upstream = ctx->input(0);
    const Tensor& descriptor = ctx->input(1);
    const Tensor& norms = ctx->input(2);
    const Tensor& centres = ctx->input(3);
    const Tensor& mass = ctx->input(4);
    bool with_centres;
    OP_REQUIRES_OK(ctx, CheckShapes(upstream, centres, mass, &with_centres));
    const int64_t b = upstream.dim_size(0), d = upstream.dim_size(1), k = upstream.dim_size(2);
    OP_REQUIRES(ctx, descriptor.shape() == upstream.shape() && norms.shape() == TensorShape({b, k}),
                errors::InvalidArgument("VladNormalizeGrad: the descriptor or its norms differ in shape"));
    Tensor* columns_grad = nullptr;
    Tensor* centres_grad = nullptr;
    Tensor* mass_grad = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, upstream.shape(), &columns_grad));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, centres.shape(), &centres_grad));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, mass.shape(), &mass_grad));
    const float* up = upstream.flat<float>().data();
    const float* y = descriptor.flat<float>().data();
    const float* ss = norms.flat<float>().data();
    float* dv = columns_grad->flat<float>().data();
    const float* c = with_centres ? centres.flat<float>().data() : nullptr;
    const float* s = with_centres ? mass.flat<float>().data() : nullptr;
    float* ds = with_centres ? mass_grad->flat<float>().data() : nullptr;
    // The centres' gradient, -sum over rows of dV * s, summed per group of rows in double, then added up.
    const int64_t groups = with_centres ? std::min<int64_t>(b, std::max(1, ctx->device()->tensorflow_cpu_worker_threads()->num_threads)) : 0;
    std::vector<double> partial(groups * d * k, 0.0);
    double* acc = partial.data();
    auto rows = [=](int64_t group, int64_t begin, int64_t end) {
      std::vector<double> dot(k), mass_sum(k);
      std::vector<float> scale(k), coefficient(k);
      for (int64_t row = begin; row < end; ++row) {
        const float* g = up + row * d * k;
        const float* o = y + row * d * k;
        float* out = dv + row * d * k;
        // q_k = sum_d G Y (Y = V s_k, so dL/ds_k = q_k / s_k)
        std::fill(dot.begin(), dot.end(), 0.0);
        for (int64_t i = 0; i < d; ++i)
          for (int64_t j = 0; j < k; ++j) dot[j] += static_cast<double>(g[i * k + j]) * o[i * k + j];
        const float* sq = ss + row * k;
        const Factors f(sq, k);
        double dg = 0;  // dL/dg
        for (int64_t j = 0; j < k; ++j) dg += dot[j] / (f.r[j] * f.g) * f.r[j];
        const double dt = f.total >= kEpsilon ? dg * -0.5 * f.g * f.g * f.g : 0.0;  // dL/d(total)
        for (int64_t j = 0; j < k; ++j) {
          const double sj = f.r[j] * f.g;
          const double dr = dot[j] / sj * f.g + dt * 2.0 * sq[j] * f.r[j];
          const double dss = (sq[j] >= kEpsilon ? dr * -0.5 * f.r[j] * f.r[j] * f.r[j] : 0.0) + dt * f.r[j] * f.r[j];
          scale[j] = static_cast<float>(sj);
          coefficient[j] = static_cast<float>(2.0 * dss / sj);  // dV = G s + 2 V dss = G s + Y (2 dss / s)
        }
        std::fill(mass_sum.begin(), mass_sum.end(), 0.0);
        for (int64_t i = 0; i < d; ++i) {
          const float* gi = g + i * k;
          const float* oi = o + i * k;
          float* di = out + i * k;
          if (c != nullptr) {
            const float* ci = c + i * k;
            const float* si = s + row * k;
            double* ai = acc + (group * d + i) * k;
            for (int64_t j = 0; j < k; ++j) {
              const float v = gi[j] * scale[j] + oi[j] * coefficient[j];
              di[j] = v;
              mass_sum[j] += static_cast<double>(v) * ci[j];
              ai[j] += static_cast<double>(v) * si[j];
            }
          } else {
            for (int64_t j = 0; j < k; ++j) di[j] = gi[j] * scale[j] + oi[j] * coefficient[j];
          }
        }
        if (ds != nullptr)
          for (int64_t j = 0; j < k; ++j) ds[row * k + j] = static_cast<float>(-mass_sum[j]);
      }
    };
    if (!with_centres) {
      ForRows(ctx, b, [=](int64_t begin, int64_t end) { rows(0, begin, end); });
      return;
    }
    ForRows(ctx, groups, [=](int64_t first, int64_t last) {
      for (int64_t group = first; group < last; ++group)
        rows(group, b * group / groups, b * (group + 1) / groups);
    });
    float* dc = centres_grad->flat<float>().data();
    const int64_t cells = d * k;
    ForRows(ctx, d, [=](int64_t begin, int64_t end) {
      for (int64_t cell = begin * k; cell < end * k; ++cell) {
        double total = 0;
        for (int64_t group = 0; group < groups; ++group) total += acc[group * cells + cell];
        dc[cell] = static_cast<float>(-total);
      }
    });
  }
};

REGISTER_KERNEL_BUILDER(Name("VladNormalize").Device(DEVICE_CPU), VladNormalizeOp);
REGISTER_KERNEL_BUILDER(Name("VladNormalizeGrad").Device(DEVICE_CPU), VladNormalizeGradOp);

}  // namespace
