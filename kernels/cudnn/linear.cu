// cudnn/linear.cu: the linear layer through cuBLAS (see linear.cuh): x (N, IN), w (OUT, IN),
// y (N, OUT), float32 row-major.
//
// cuBLAS is column-major; a row-major (rows, cols) matrix is the column-major (cols, rows) matrix,
// its transpose. So each row-major product A B is computed as the column-major B^T A^T.
//
// Math modes. Fp32: CUBLAS_DEFAULT_MATH (cuBLAS uses TF32 only when asked, or under
// NVIDIA_TF32_OVERRIDE=1). Tf32: CUBLAS_TF32_TENSOR_OP_MATH. Bf16 (kernels/shapes.h): cublasGemmEx
// on the float data with CUBLAS_COMPUTE_32F_FAST_16BF, which lets cuBLAS down-convert the inputs to
// bf16 (its header says "to bfloat16 or TF32": a permission, not a promise, so this backend's bf16
// linear is at most as rounded as ours). The bias is added by a small kernel of our own.
#include "kernels/cudnn/linear.cuh"

#include "kernels/common.cuh"
#include "kernels/cudnn/handles.cuh"

namespace lb::kernels::cudnn {

namespace {

using namespace detail;  // kernels/cudnn/handles.cuh
using kernels::detail::grid_for;

// y (N, OUT) += bias (OUT), broadcast over rows.
__global__ void add_bias_rows_kernel(int64_t N, int64_t OUT, const float* bias, float* y) {
  const int64_t total = N * OUT;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[i % OUT];
}

void set_blas_math(cublasHandle_t h, MathMode mode, const char* where) {
  LB_CUBLAS(where, cublasSetMathMode(h, mode == MathMode::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

// cublasSgemm's arguments (column-major, float, alpha = 1, beta = 0); Bf16 runs it as cublasGemmEx
// with CUBLAS_COMPUTE_32F_FAST_16BF on the same float data.
void blas_gemm(cublasHandle_t h, MathMode mode, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
               const float* A, int lda, const float* B, int ldb, float* C, int ldc, const char* where) {
  set_blas_math(h, mode, where);
  if (mode == MathMode::Bf16)
    LB_CUBLAS(where, cublasGemmEx(h, ta, tb, m, n, k, &kOne, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &kZero, C,
                                  CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
  else
    LB_CUBLAS(where, cublasSgemm(h, ta, tb, m, n, k, &kOne, A, lda, B, ldb, &kZero, C, ldc));
}

int blas_int(int64_t v, const char* where) { return to_int(v, where); }

}  // namespace

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias, float* y,
                    MathMode mode) {
  const char* where = "cudnn::linear_forward";
  if (N == 0 || OUT == 0) return;
  Handles& h = handles(current_device());
  // y^T (OUT, N) = W (OUT, IN) x^T (IN, N); w seen column-major is (IN, OUT), hence op T.
  blas_gemm(h.blas, mode, CUBLAS_OP_T, CUBLAS_OP_N, blas_int(OUT, where), blas_int(N, where), blas_int(IN, where), w,
            blas_int(IN, where), x, blas_int(IN, where), y, blas_int(OUT, where), where);
  if (bias) {
    add_bias_rows_kernel<<<grid_for(N * OUT, 256, 4096), 256, 0, cuda_stream()>>>(N, OUT, bias, y);
    LB_CUDA_CHECK_LAUNCH("add_bias_rows_kernel");
  }
}

void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                           MathMode mode) {
  const char* where = "cudnn::linear_backward_input";
  if (N == 0 || IN == 0) return;
  Handles& h = handles(current_device());
  // dx^T (IN, N) = W^T (IN, OUT) dy^T (OUT, N): both already in that form column-major.
  blas_gemm(h.blas, mode, CUBLAS_OP_N, CUBLAS_OP_N, blas_int(IN, where), blas_int(N, where), blas_int(OUT, where), w,
            blas_int(IN, where), dy, blas_int(OUT, where), dx, blas_int(IN, where), where);
}

void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                            MathMode mode) {
  const char* where = "cudnn::linear_backward_weight";
  if (IN == 0 || OUT == 0) return;
  Handles& h = handles(current_device());
  if (N == 0) {
    LB_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(IN * OUT) * sizeof(float), cuda_stream()));
    return;
  }
  // dW^T (IN, OUT) = x^T (IN, N) dy (N, OUT); dy seen column-major is dy^T (OUT, N), hence op T.
  blas_gemm(h.blas, mode, CUBLAS_OP_N, CUBLAS_OP_T, blas_int(IN, where), blas_int(OUT, where), blas_int(N, where), x,
            blas_int(IN, where), dy, blas_int(OUT, where), dw, blas_int(IN, where), where);
}

}  // namespace lb::kernels::cudnn
