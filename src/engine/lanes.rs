//! The f32 vectors of each instruction set that the engine's own ops use, behind one trait, so
//! that each op's loop is written once and compiled for each.

/// Whether this processor has AVX-512, or AVX2 and FMA: the engine's products and 3x3
/// convolution have vector paths for these alone, and leave the work to tract elsewhere.
pub(super) fn x86_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512f")
        || (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The vectors of f32 of one instruction set.
pub(super) trait Lanes {
    type V: Copy;
    const LANES: usize;
    /// # Safety
    /// The processor has the instruction set, and `LANES` values are readable at `src`.
    unsafe fn load(src: *const f32) -> Self::V;
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a * b + acc`.
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn mul_add(a: Self::V, b: Self::V, acc: Self::V) -> Self::V;
    /// # Safety
    /// The processor has the instruction set, and `LANES` values are writable at `dst`.
    unsafe fn store(dst: *mut f32, v: Self::V);
}

/// One value at a time, for processors without a vector path here.
pub(super) struct Scalar;

impl Lanes for Scalar {
    type V = f32;
    const LANES: usize = 1;
    unsafe fn load(src: *const f32) -> f32 {
        *src
    }
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    unsafe fn mul_add(a: f32, b: f32, acc: f32) -> f32 {
        acc + a * b
    }
    unsafe fn store(dst: *mut f32, v: f32) {
        *dst = v
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2Fma, Avx512};

/// Vectors that can also be loaded from int8 values and summed across their lanes.
#[cfg(target_arch = "x86_64")]
pub(super) trait LanesI8: Lanes {
    /// `LANES` int8 values at `src`, as f32.
    /// # Safety
    /// The processor has the instruction set, and `LANES` values are readable at `src`.
    unsafe fn load_i8(src: *const i8) -> Self::V;
    /// The sum of the lanes.
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn sum(v: Self::V) -> f32;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Lanes, LanesI8};
    use std::arch::x86_64::*;

    impl LanesI8 for Avx512 {
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load_i8(src: *const i8) -> __m512 {
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(src.cast())))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn sum(v: __m512) -> f32 {
            _mm512_reduce_add_ps(v)
        }
    }

    impl LanesI8 for Avx2Fma {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load_i8(src: *const i8) -> __m256 {
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(src.cast())))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sum(v: __m256) -> f32 {
            let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
        }
    }

    pub(crate) struct Avx512;

    impl Lanes for Avx512 {
        type V = __m512;
        const LANES: usize = 16;
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(src: *const f32) -> __m512 {
            _mm512_loadu_ps(src)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn mul_add(a: __m512, b: __m512, acc: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, acc)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn store(dst: *mut f32, v: __m512) {
            _mm512_storeu_ps(dst, v)
        }
    }

    pub(crate) struct Avx2Fma;

    impl Lanes for Avx2Fma {
        type V = __m256;
        const LANES: usize = 8;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(src: *const f32) -> __m256 {
            _mm256_loadu_ps(src)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn mul_add(a: __m256, b: __m256, acc: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, acc)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn store(dst: *mut f32, v: __m256) {
            _mm256_storeu_ps(dst, v)
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(super) use neon::Neon;

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::Lanes;
    use std::arch::aarch64::*;

    pub(crate) struct Neon;

    impl Lanes for Neon {
        type V = float32x4_t;
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn load(src: *const f32) -> float32x4_t {
            vld1q_f32(src)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> float32x4_t {
            vdupq_n_f32(x)
        }
        #[inline(always)]
        unsafe fn mul_add(a: float32x4_t, b: float32x4_t, acc: float32x4_t) -> float32x4_t {
            vfmaq_f32(acc, a, b)
        }
        #[inline(always)]
        unsafe fn store(dst: *mut f32, v: float32x4_t) {
            vst1q_f32(dst, v)
        }
    }
}
