// Package shift makes covariate-shifted copies of image splits, for shift-detection experiments
// (nmflow/detect) and robustness checks: pure functions from a data.Split to a new data.Split of
// the same shape and labels, deterministic in their seed.
//
// Two families, chosen by a spec string (Parse):
//
//   - geometric and additive shifts with a physical parameter: "rotate:DEG" (bilinear, about the
//     centre, zero fill), "translate:DX[,DY]" (whole pixels, zero fill) and "noise:SIGMA"
//     (additive Gaussian noise on the [0,1] scale). On MNIST, rotate:45 and noise:0.5 harm a
//     classifier badly, while translate:1 barely does;
//   - CIFAR-10-C style corruptions (Hendrycks & Dietterich 2019, make_cifar_c.py), computed
//     locally with the same CIFAR severity constants, as "NAME:SEVERITY" with severity 1..5:
//     gaussian_noise, shot_noise, impulse_noise, speckle_noise, gaussian_blur, defocus_blur,
//     contrast, brightness and pixelate. As in make_cifar_c.py, results are clipped to [0,255]
//     and truncated to bytes. brightness:1 (+0.05 on HSV value) is a mild, usually benign shift.
//
// The corruptions follow the reference formulas; random streams differ from NumPy's, and
// pixelate uses an exact area (box) resampling like PIL's BOX filter, so images are equivalent
// in distribution, not bit-identical to the published CIFAR-10-C arrays.
//
// The package sits beside data rather than inside detect because the shifts are plain dataset
// transforms: notebooks and evaluations use them without any detector.
package shift
