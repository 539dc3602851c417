// Package interop reads checkpoints written by other tools and writes nmflow's weights back in
// their formats, so zoos trained in PyTorch can be studied in nmflow and generated weights can be
// loaded by PyTorch users.
//
// Reading (Read picks the format by content): PyTorch torch.save files (.pt/.pth: a zip holding a
// pickled state_dict or any nesting of dicts around it, tensors of float32/64, float16, bfloat16
// and integer types, non-contiguous views included), safetensors, NumPy .npy/.npz, and GoMLX
// checkpoint folders. The result is a StateDict: tensors by dotted name plus the numbers saved
// beside them (epoch, test_acc, ...).
//
// Map fills an arch.Layout from a StateDict by name and shape, finding the key prefix
// ("state_dict.", "module.", ...) and the naming (the Layout's fc1.weight or a plain
// nn.Sequential's 1.weight) by itself, and reports missing, unexpected and mis-shaped tensors
// (with a hint for transposed [in,out] weights). AssembleZoo builds a traj.Zoo from a folder of
// per-run, per-epoch files (run0/epoch0.pt, ...; DefaultPatterns), ordered by run and step.
//
// Writing: WriteTorch emits a state_dict file that torch.load and load_state_dict accept for the
// matching nn.Sequential (protocol-2 pickle with torch._utils._rebuild_tensor_v2 and storage
// records, 64-byte aligned like torch.save); WriteNpz and traj's safetensors codec cover the other
// formats (Write picks by name). Every write is atomic (traj.WriteAtomic).
//
// The parsers are hand-written and defensive: every length, shape and offset a file states is
// checked against the bytes it has before anything is allocated, the pickle VM executes nothing
// (unknown classes stay inert objects), and each parser has a fuzz target. The maintained
// libraries were tried first: nlpodyssey/gopickle v0.3.0 dies out of memory on a 12-byte pickle
// whose FRAME claims 64 GiB, and sbinet/npyio v0.14.0 panics on a 26-byte .npy whose header lacks
// a newline. docs/interop.md documents formats, folder naming and loading exports in PyTorch.
package interop
