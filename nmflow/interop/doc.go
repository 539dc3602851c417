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
// Map fills an arch.Layout from a StateDict by structure: the layout's tensors (per layer, weight
// then bias) must appear in the file in order with the same shapes, whatever the keys are called
// (0.weight, layers.0.weight, net.fc_in.weight, classifier.bias). The state dict is found among
// the file's dicts (a training loop's model_state_dict, a Lightning state_dict, DataParallel's
// module. keys), names only break ties, two equally good mappings are refused with both listed,
// and MapOptions.Keys (ParseKeyMap, the --map flag) states a mapping by hand. The report prints
// the mapping and counts what was ignored (optimizer state, numbers). AssembleZoo builds a
// traj.Zoo from a folder of per-run, per-epoch files (run0/epoch0.pt, ...; DefaultPatterns) and
// Import from any folder or file; the zoo records the source keys (SourceKeys), so an export
// under them loads back into the module that saved them. A whole pickled module (torch.save(net))
// is refused with the fix.
//
// Writing: WriteTorch emits a state_dict file that torch.load and load_state_dict accept for the
// matching module (protocol-2 pickle with torch._utils._rebuild_tensor_v2 and storage
// records, 64-byte aligned like torch.save); WriteNpz and traj's safetensors codec cover the other
// formats (Write picks by name); WriteGoMLX writes a GoMLX checkpoint folder. Every file write is
// atomic (traj.WriteAtomic).
//
// The parsers are hand-written and defensive: every length, shape and offset a file states is
// checked against the bytes it has before anything is allocated, the pickle VM executes nothing
// (unknown classes stay inert objects), and each parser has a fuzz target. The maintained
// libraries were tried first: nlpodyssey/gopickle v0.3.0 dies out of memory on a 12-byte pickle
// whose FRAME claims 64 GiB, and sbinet/npyio v0.14.0 panics on a 26-byte .npy whose header lacks
// a newline. docs/interop.md documents formats, folder naming and loading exports in PyTorch.
package interop
