"""One-line meanings of the parameters of every registered method, metric, model and dataset.

The convention (so that a new entry is one file): a parameter's meaning is a declared help string
kept here, keyed by ``"<entry>.<parameter>"`` where one entry uses a name in its own sense, else by the parameter
name shared by every entry that takes it; a new entry may instead declare its own meanings beside
its function (``register(..., docs={param: meaning})``), which adds them here.
``tests/test_registry.py`` checks that every registered parameter has one, so a new parameter
without a meaning fails the tests;
``xbench describe NAME`` and ``xbench list methods -v`` print them.
"""

from __future__ import annotations

HELP: dict[str, str] = {
    # shared meanings
    "max_batch": "most model inputs per forward/backward pass (the chunk size; lower it when memory is short); "
                 "a default of None means 128, on the CPU at most 8 MiB of inputs (13 photos of 224 px)",
    "seed": "seed of the random numbers this entry draws (same seed, same values)",
    "n_steps": "number of points on the integration path (more = smaller quadrature error, slower)",
    "baseline": "the reference input x' the path starts from (xbench.substrates): zero (the mean colour), black, blur, "
                "rise_blur, uniform, mean (the dataset's mean image), image_mean, or a number",
    "method": "quadrature rule along the path",
    "n_samples": "number of noisy or perturbed copies drawn per input",
    "stdev": "standard deviation of the Gaussian input noise (in normalised input units)",
    "abs": "return absolute values",
    "steps": "number of points on the perturbation curve (default: image height; at most the pixel count)",
    "substrate": "what removed pixels are replaced by (xbench.substrates): zero (mean colour), blur, rise_blur, "
                 "mean (each image's channel means), uniform noise, image_mean",
    "output": "score plotted on the curve: softmax probability or raw logit of the target",
    "blur_kernel": "side of the Gaussian blur kernel in pixels (odd)",
    "blur_sigma": "standard deviation of the Gaussian blur in pixels",
    "fractions": "fractions of pixels at which the curve is evaluated, each in [0, 1]",
    "radius": "L-inf radius of the uniform input noise (normalised input units; see radius_units where offered)",
    "radius_units": "units of radius: input (the normalised inputs', default) or pixel ([0, 1] pixels, divided by "
                    "the data's per-channel std; recorded with the radius it became)",
    "norm": "norm of the attribution change: Frobenius or max-abs",
    "eps": "guard added to a denominator so a zero change gives a finite value",
    "x": "build the bias-free X-variant (homogeneous; needed by x_gradient)",
    "num_classes": "number of output logits",
    "weights": "trained/default weights: a name the model knows, a checkpoint path, or null for random init",
    "size": "input image side in pixels",
    "in_channels": "number of input image channels",
    "split": "which part of the dataset to read",
    "root": "folder that holds the dataset files",
    "schedule": "where the path points go: uniform (a_k = k/m, the papers'), or quadratic/cubic (denser near the "
                "baseline, where a saturating logit moves)",
    "input_shape": "shape of one input without the batch ([C, H, W] or [F]); checked by one dry forward pass",
    "mean": "per-channel mean (pixel units) of the normalisation the model was trained with, if not the data's",
    "std": "per-channel std (pixel units) of the normalisation the model was trained with, if not the data's",
    # methods
    "captum.cls": "the captum.attr class to run (YAML key 'class'), e.g. DeepLift, Lime, LayerGradCam, NoiseTunnel",
    "captum.layer": "dotted module path of the layer Layer* classes and GuidedGradCam attribute to (e.g. features.28)",
    "captum.init": "arguments of the class's constructor (NoiseTunnel: attribution = the wrapped class's name)",
    "captum.params": "arguments of the class's attribute() (n_steps, n_samples, sliding_window_shapes, ...)",
    "captum.baselines": "the baseline Captum gets: an xbench baseline name, a number, or references (Shap classes)",
    "captum.feature_grid": "side in pixels of the square patches used as feature_mask by perturbation classes",
    "captum.max_batch": "most model inputs per forward pass; also sets Captum's internal_batch_size, "
                        "perturbations_per_eval and nt_samples_batch_size where params does not (recorded in the "
                        "rows as set_by_xbench): NoiseTunnel then draws its noise batch by batch, so its maps differ "
                        "pointwise from a default Captum call (same distribution); params: {nt_samples_batch_size: "
                        "null} keeps Captum's default",
    "captum.interpolate": "how layer maps are resized to the input: bilinear (as Captum's visualiser) or nearest",
    "blur_ig.max_sigma": "largest Gaussian blur (pixels) where the path starts",
    "blur_ig.border": "how the blur treats the image border: zero padding (PAIR's saliency, the default) or reflect",
    "expected_gradients.k": "references x random alphas drawn per input (one gradient each)",
    "grad_cam.layer": "dotted name of the convolutional layer to explain (default: the last Conv2d)",
    "grad_cam.relu": "keep only the positive part of the map, as in the paper",
    "guided_ig.fraction": "share of features moved at each step (those with the smallest |gradient|)",
    "guided_ig.max_dist": "how far (in alpha) a feature may stray from the straight-line path",
    "occlusion.window": "side of the square occluding window in pixels",
    "occlusion.stride": "step between window positions in pixels",
    "smoothgrad.kind": "how the noisy gradients are combined: mean, mean of squares, or variance",
    "split_ig.ratio": "the split point: where the logit has reached this share of its change along the path",
    "split_ig.share_pass": "find the split during the one gradient pass and share it with every Split IG of the "
                           "batch (false: a separate forward scan first, as the paper's notebook does)",
    "split_ig.part": "which part of the path to integrate: left of the split, right of it, or the full path",
    "x_gradient.check": "verify once per model that it is homogeneous (refuse biased models)",
    "photos.model": "the model whose confidence orders the photos for every model of the run (a model label of "
                    "the suite or a registered model; default: the suite's first model)",
    "photos.size": "side in px for every model (default: each model's declared input size, 224 if it declares none)",
    "photos.order": "photo order: by the model's confidence (most plausibly classified first) or as detected",
    "logit_path.n_points": "points along the straight path at which the target logit is evaluated",
    "logit_path.ratio": "the share r of the logit's change whose first crossing is reported (paper B: 0.9)",
    # models from files
    "file.path": "your TorchScript (torch.jit.save) or torch.export (torch.export.save) archive",
    "python.factory": "your model factory as 'package.module:function' (beside the suite file, or importable)",
    "python.weights": "a checkpoint path, or {path: ckpt, key_map: 'module:function', load: 'module:function'}: "
                      "keys renamed by key_map (None drops one), then a strict load or load(model, state)",
    "python.search_path": "folder searched first for the factory/key_map/load modules (a suite file fills in its own "
                          "folder when the module lies there)",
    "python.kwargs": "keyword arguments passed to the factory",
    # metrics
    "abpc.divisor": "the sum over fractions is divided by this (10 in paper B, for 9 points)",
    "abpc.clip": "clip the normalised outputs to [0, 1] as in paper B",
    "accuracy.topk": "k of the top-k accuracy",
    "contrast.scales": "contrast factors a the inputs are multiplied by (1.0 = unchanged)",
    "ig_distance.n_steps": "Gauss-Legendre points of the reference IG (128 in paper A)",
    "ig_distance.eps": "guard added to mean|IG| so an all-zero IG gives a finite distance",
    "infidelity.noise_std": "standard deviation of the Gaussian perturbations I",
    "infidelity.normalize": "rescale attributions by the least-squares beta before comparing (Yeh et al.)",
    "keep_remove.blur_kernel": "side of the blur kernel of the substrate in pixels (default: the paper's)",
    "keep_remove.blur_sigma": "standard deviation of the substrate blur in pixels (default: the paper's)",
    "sensitivity_axiom.patch_size": "side of the square patch in pixels (default: image height / 8)",
    "sensitivity_axiom.n_patches": "random patches tried per input (null: every patch)",
    "sensitivity_axiom.rtol": "a patch counts as attributed when its max |A| exceeds rtol x the image's max |A|",
    "sensitivity_axiom.output_tol": "the output counts as changed when the target logit moves by more than this",
    "sensitivity_n.ns": "subset sizes n (pixels) to evaluate, each at most the pixel count",
    "sensitivity_n.n_subsets": "random subsets drawn per n",
    "timing.repeats": "timed repetitions; the median is reported",
    "timing.warmup": "untimed runs before timing (kernel selection, caches)",
    "timing.batches": "leading batches timed per cell (null: every batch)",
    "roar.batches": "leading batches ROAR runs on (it reads the whole train and test splits, so 1: once per model "
                    "and method; more batches repeat the same result)",
    # models
    "cifar_resnet20.seed": "seed of the random initialisation",
    "cifar_vgg.seed": "seed of the random initialisation",
    "cifar_vgg.cfg": "which VGG layer layout",
    "cifar_vgg.width": "channel width multiplier (1.0 = the standard widths)",
    "cifar_vgg.batch_norm": "insert BatchNorm after each convolution (no X-variant then)",
    "digits_cnn.width": "channels of the first convolution (the others scale with it)",
    "synthetic_cnn.width": "channels of the first convolution (the others scale with it)",
    "inception_v3.transform_input": "re-normalise inputs to Google's [-1, 1] scaling (null: when torchvision weights)",
    "mlp.in_features": "number of input features (30 for breast_cancer)",
    "mlp.hidden": "hidden layer sizes, input to output",
    "mlp.data": "dataset the default 'trained' weights are trained on",
    # datasets
    "breast_cancer.seed": "seed of the train/test split",
    "breast_cancer.test_fraction": "share of subjects in the test split",
    "cifar10.download": "download CIFAR-10 into root when it is missing",
    "imagenet.resize": "resize the shorter side to this before the center crop (default: size / 0.875)",
    "imagenet.synsets": "file mapping folder names to class indices (default: the sorted folder names)",
    "nhanes.features": "CSV of features, one subject a row (default: root/X_sparsity.csv)",
    "nhanes.labels": "labels file, .npy or CSV of 0/1 (default: root/y_sparsity.npy)",
    "nhanes.index_col": "the features CSV's first column is a subject id",
    "nhanes.rep": "repetition: the random state of the train/val/test split",
    "nhanes.n_train": "subjects in the train split",
    "nhanes.n_val": "subjects in the validation split",
    "synthetic.num_classes": "number of pattern classes (plus, cross, square, h, t, l)",
    "synthetic.n": "images generated (default: 2000 train, 500 test/val)",
    "synthetic.seed": "seed of the generated images",
    "synthetic.mask": "ground-truth mask: the pattern's pixels or its bounding box",
}


def param_doc(entry: str, param: str) -> str:
    """The one-line meaning of ``param`` of the registered ``entry`` ("" when none is declared)."""
    return HELP.get(f"{entry}.{param}") or HELP.get(param, "")
