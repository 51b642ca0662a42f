// OnePassAdam: Adam's update of a float32 resource variable on the CPU in one pass over its values.
//
// TensorFlow's ApplyAdam (tensorflow/core/kernels/training_ops.cc, ApplyAdamNonCuda: the kernel that
// tf.train.AdamOptimizer ran for the original) updates m, then v, then the weight, three passes over
// shards of an eighth of the variable: for the hidden projection's 2^27 weights each pass goes to memory.
// This kernel reads the weight, gradient and both moments once and writes three of them, with the same
// float32 operations in the same order, so its results are bit-identical (tests/test_optimizer.py). Where
// the four buffers' addresses agree modulo 4 KiB it stages each stretch through a scratch area (`Staged`);
// where two agree modulo 256 MiB it moves a variable's values to a buffer placed apart (`Apart`).
// Built on first use by networks/native.py; networks/optimizer.py falls back to ResourceApplyAdam
// where it cannot be built, on a GPU, and for other dtypes.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "tensorflow/core/framework/allocation_description.pb.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

using namespace tensorflow;

REGISTER_OP("OnePassAdam")
    .Input("var: resource")
    .Input("m: resource")
    .Input("v: resource")
    .Input("beta1_power: float")
    .Input("beta2_power: float")
    .Input("lr: float")
    .Input("beta1: float")
    .Input("beta2: float")
    .Input("epsilon: float")
    .Input("grad: float")
    .Attr("path: {'auto', 'in_place', 'staged'} = 'auto'")  // which loop; auto: by the buffers' addresses
    .Attr("apart: bool = true")  // whether to move a variable whose buffer agrees with another's modulo 256 MiB
    .SetShapeFn(shape_inference::NoOutputs);

namespace {

// The variable's buffer, made this update's own first: a buffer that a read still holds is copied, as
// TensorFlow's dense updates of resource variables do (PrepareToUpdateVariable).
Status Writable(OpKernelContext* ctx, Var* var, Tensor* out) {
  Tensor* tensor = var->tensor();
  if (!tensor->IsInitialized())
    return errors::FailedPrecondition("OnePassAdam: attempting to use an uninitialized variable");
  if (tensor->dtype() != DT_FLOAT) return errors::InvalidArgument("OnePassAdam: the variables must be float32");
  if (var->copy_on_read_mode.load() || !tensor->RefCountIsOne()) {
    Tensor copy;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(DT_FLOAT, tensor->shape(), &copy));
    std::copy_n(tensor->flat<float>().data(), tensor->NumElements(), copy.flat<float>().data());
    *tensor = copy;
  }
  *out = *tensor;
  return OkStatus();
}

// ApplyAdamNonCuda's three statements for one value (no fused multiply-add: built with -ffp-contract=off).
inline void Step(float g, float m, float v, float w, float alpha, float one_minus_beta1, float one_minus_beta2,
                 float epsilon, float* new_m, float* new_v, float* new_w) {
  const float mi = m + (g - m) * one_minus_beta1;
  const float vi = v + (g * g - v) * one_minus_beta2;
  *new_m = mi;
  *new_v = vi;
  *new_w = w - (mi * alpha) / (std::sqrt(vi) + epsilon);
}

void InPlace(float* __restrict w, float* __restrict m, float* __restrict v, const float* __restrict g,
             int64_t count, float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon) {
  for (int64_t i = 0; i < count; ++i)
    Step(g[i], m[i], v[i], w[i], alpha, one_minus_beta1, one_minus_beta2, epsilon, &m[i], &v[i], &w[i]);
}

// From w, m, v and g into the scratch arrays new_w, new_m and new_v.
void ToScratch(const float* __restrict w, const float* __restrict m, const float* __restrict v,
               const float* __restrict g, float* __restrict new_w, float* __restrict new_m, float* __restrict new_v,
               int64_t count, float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon) {
  for (int64_t i = 0; i < count; ++i)
    Step(g[i], m[i], v[i], w[i], alpha, one_minus_beta1, one_minus_beta2, epsilon, &new_m[i], &new_v[i], &new_w[i]);
}

// The same through a scratch area placed 1.5 KiB past the arrays' offset modulo 4 KiB, a stretch of
// kStaged values at a time: for buffers whose addresses agree modulo 4 KiB (TensorFlow's BFC allocator
// gives such buffers to variables of equal power-of-two sizes), where the processor takes a store to one
// array and a load from another at the same offset for a dependency and the in-place loop slows 2-4x.
constexpr int64_t kStaged = 128;

void Staged(float* __restrict w, float* __restrict m, float* __restrict v, const float* __restrict g,
            int64_t count, float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon) {
  alignas(64) float area[1024 + 3 * kStaged];
  const uintptr_t here = reinterpret_cast<uintptr_t>(area) & 4095;
  for (int64_t begin = 0; begin < count; begin += kStaged) {
    const int64_t n = std::min(kStaged, count - begin);
    const uintptr_t want = ((reinterpret_cast<uintptr_t>(w + begin) & 4095) + 1536) & 4095;
    float* scratch = area + ((want - here) & 4095) / sizeof(float);
    ToScratch(w + begin, m + begin, v + begin, g + begin, scratch + 2 * kStaged, scratch, scratch + kStaged, n,
              alpha, one_minus_beta1, one_minus_beta2, epsilon);
    std::copy_n(scratch, n, m + begin);
    std::copy_n(scratch + kStaged, n, v + begin);
    std::copy_n(scratch + 2 * kStaged, n, w + begin);
  }
}

// Whether two of the four buffers start within 512 bytes of each other modulo 4 KiB.
bool Aligned4K(const void* const* buffers) {
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j) {
      const uintptr_t d = (reinterpret_cast<uintptr_t>(buffers[i]) - reinterpret_cast<uintptr_t>(buffers[j])) & 4095;
      if (d < 512 || d > 4096 - 512) return true;
    }
  return false;
}

// Buffers whose addresses agree in their low 28 bits (256 MiB apart, or a multiple: TensorFlow's BFC allocator
// places buffers of 2^26 or 2^27 values so) made this loop 1.7-2.8x slower on the AMD EPYC with AVX-512 than
// buffers 4 KiB or 2 MiB further apart (a plain loop over NumPy buffers placed so; bench/bench_adam_layout.py
// times this kernel with and without the move: 1.16-1.72x); staging the stretches through scratch
// areas, in phases or skewed, did not help. Agreement within 2 KiB counts (64 bytes apart: 1.4x, 512: 1.07x;
// networks/optimizer.py's `agreeing` is the same rule).
// Variables under 1 MiB (one task of the loop) stay where they are.
constexpr uintptr_t kPeriod = uintptr_t{1} << 28, kNear = 2048;
constexpr int64_t kApartFrom = int64_t{1} << 18;
// Each variable is moved at most twice by one kernel: an allocator that kept placing the gradient where
// the moved weight agrees with it would otherwise cost a copy per update.
constexpr int kMovesPerVariable = 2;

bool Near(const void* a, const void* b, uintptr_t period, uintptr_t near) {
  const uintptr_t d = (reinterpret_cast<uintptr_t>(a) - reinterpret_cast<uintptr_t>(b)) & (period - 1);
  return d < near || d > period - near;
}

// A variable's buffer of `bytes` placed `offset` bytes into a block of `block_bytes` from the device's
// allocator, which it gives back.
class Shifted : public TensorBuffer {
 public:
  Shifted(Allocator* allocator, char* block, size_t block_bytes, size_t offset, size_t bytes)
      : TensorBuffer(block + offset), allocator_(allocator), block_(block), block_bytes_(block_bytes), bytes_(bytes) {}
  ~Shifted() override { allocator_->DeallocateRaw(block_); }
  size_t size() const override { return bytes_; }
  TensorBuffer* root_buffer() override { return this; }
  void FillAllocationDescription(AllocationDescription* proto) const override {
    proto->set_requested_bytes(static_cast<int64_t>(bytes_));
    proto->set_allocated_bytes(static_cast<int64_t>(block_bytes_));
    proto->set_allocator_name(allocator_->Name());
    proto->set_ptr(reinterpret_cast<uintptr_t>(data()));
  }
  AllocatorMemoryType GetMemoryType() const override { return allocator_->GetMemoryType(); }

 private:
  Allocator* const allocator_;
  char* const block_;
  const size_t block_bytes_;
  const size_t bytes_;
};

// Moves the values of `var` (whose buffer is `*tensor`, this update's own) to a buffer at least 4 KiB from
// each of `others` modulo 256 MiB (twice the distance that counts: a gradient later given the freed buffer,
// within 2 KiB of the one it left, still does not agree), and not within 512 bytes of one modulo 4 KiB
// where one of 13 places allows; the variable keeps it until TensorFlow itself gives the variable another
// buffer (an update while a read holds this one copies it, in Writable). Returns false where the allocator
// has no room at once (no retry: the move only buys speed): the buffer then stays where it is.
bool Apart(OpKernelContext* ctx, Var* var, Tensor* tensor, const void* const* others) {
  constexpr size_t kStep = 2560, kSlack = 13 * kStep;
  Allocator* allocator = ctx->device()->GetAllocator(AllocatorAttributes());
  const size_t bytes = tensor->TotalBytes(), block_bytes = bytes + kSlack;
  AllocationAttributes once;
  once.retry_on_failure = false;
  char* block = static_cast<char*>(allocator->AllocateRaw(64, block_bytes, once));
  if (block == nullptr) return false;
  size_t chosen = kSlack;
  for (int pass = 0; pass < 2 && chosen == kSlack; ++pass)
    for (size_t offset = 0; offset < kSlack; offset += kStep) {
      bool clear = true;
      for (int i = 0; i < 3; ++i)
        clear = clear && !Near(block + offset, others[i], kPeriod, 2 * kNear) &&
                (pass == 1 || !Near(block + offset, others[i], 4096, 512));
      if (clear) {
        chosen = offset;
        break;
      }
    }
  if (chosen == kSlack) {  // cannot happen: each of three others rules out at most four of the 13 places
    allocator->DeallocateRaw(block);
    return false;
  }
  auto* buffer = new Shifted(allocator, block, block_bytes, chosen, bytes);
  Tensor moved(DT_FLOAT, tensor->shape(), buffer);
  buffer->Unref();
  std::copy_n(tensor->flat<float>().data(), tensor->NumElements(), moved.flat<float>().data());
  *var->tensor() = moved;
  *tensor = moved;
  return true;
}

class OnePassAdamOp : public OpKernel {
 public:
  explicit OnePassAdamOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("path", &path_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("apart", &apart_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<Var> vars[3];
    for (int i = 0; i < 3; ++i) OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, i), &vars[i]));
    OP_REQUIRES(ctx, vars[0].get() != vars[1].get() && vars[0].get() != vars[2].get() &&
                         vars[1].get() != vars[2].get(),
                errors::InvalidArgument("OnePassAdam: var, m and v must be three variables"));
    // Locked in address order, as TensorFlow's training ops lock theirs, so two updates never wait on each other.
    Var* order[3] = {vars[0].get(), vars[1].get(), vars[2].get()};
    std::sort(order, order + 3);
    mutex_lock first(*order[0]->mu()), second(*order[1]->mu()), third(*order[2]->mu());
    Tensor w, m, v;
    OP_REQUIRES_OK(ctx, Writable(ctx, vars[0].get(), &w));
    OP_REQUIRES_OK(ctx, Writable(ctx, vars[1].get(), &m));
    OP_REQUIRES_OK(ctx, Writable(ctx, vars[2].get(), &v));
    const Tensor& grad = ctx->input(9);
    OP_REQUIRES(ctx, w.shape() == m.shape() && w.shape() == v.shape() && w.shape() == grad.shape(),
                errors::InvalidArgument("OnePassAdam: var, m, v and grad differ in shape"));
    float s[6];
    for (int i = 0; i < 6; ++i) {
      const Tensor& t = ctx->input(3 + i);
      OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(t.shape()),
                  errors::InvalidArgument("OnePassAdam: beta1_power to epsilon must be scalars"));
      s[i] = t.scalar<float>()();
    }
    if (apart_ && w.NumElements() >= kApartFrom) {  // the moments first, the weights last: the gradient cannot move
      Tensor* tensors[3] = {&w, &m, &v};
      for (int k : {1, 2, 0}) {
        const void* others[3];
        for (int i = 0, j = 0; i < 4; ++i)
          if (i != k) others[j++] = i < 3 ? tensors[i]->data() : grad.data();
        const void* here = tensors[k]->data();
        if (Near(here, others[0], kPeriod, kNear) || Near(here, others[1], kPeriod, kNear) ||
            Near(here, others[2], kPeriod, kNear)) {
          mutex_lock counting(moves_mu_);
          if (moves_[vars[k].get()] < kMovesPerVariable && Apart(ctx, vars[k].get(), tensors[k], others))
            ++moves_[vars[k].get()];
        }
      }
    }
    const float beta1_power = s[0], beta2_power = s[1], lr = s[2], beta1 = s[3], beta2 = s[4], epsilon = s[5];
    // ApplyAdamNonCuda's constants, in float32 and in its order.
    const float alpha = lr * std::sqrt(1.0f - beta2_power) / (1.0f - beta1_power);
    const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
    float* wp = w.flat<float>().data();
    float* mp = m.flat<float>().data();
    float* vp = v.flat<float>().data();
    const float* gp = grad.flat<float>().data();
    const int64_t n = w.NumElements();
    const void* buffers[4] = {wp, mp, vp, gp};
    const bool staged = path_ == "staged" || (path_ == "auto" && Aligned4K(buffers));
    auto* update = staged ? Staged : InPlace;
    auto work = [=](int64_t begin, int64_t end) {
      update(wp + begin, mp + begin, vp + begin, gp + begin, end - begin, alpha, one_minus_beta1, one_minus_beta2,
             epsilon);
    };
    const int64_t block = int64_t{1} << 18;  // 1 MiB of each buffer per task
    if (n <= block) {
      work(0, n);
    } else {
      ctx->device()->tensorflow_cpu_worker_threads()->workers->TransformRangeConcurrently(block, n, work);
    }
  }

 private:
  std::string path_;
  bool apart_;
  mutex moves_mu_;
  // Moves by variable while the kernel lives (a variable made where a deleted one was inherits its count).
  std::unordered_map<const Var*, int> moves_ TF_GUARDED_BY(moves_mu_);
};

REGISTER_KERNEL_BUILDER(Name("OnePassAdam").Device(DEVICE_CPU), OnePassAdamOp);

}  // namespace
