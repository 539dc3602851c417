package data_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/data"
)

// Load MNIST without touching the network: from NMFLOW_DATA, the cache, or the GoMNIST Go
// module in the module cache. Then standardize a small deterministic training subset.
func ExampleLoad() {
	ds, err := data.Load("mnist", data.Options{NoDownload: true})
	if err != nil {
		fmt.Println(err) // lists every source tried and what to do
		return
	}
	fmt.Println(ds.Name, ds.Shape, "train", ds.Train.N, "test", ds.Test.N, "classes", len(ds.Classes))

	mean, std := ds.ChannelStats()
	fmt.Printf("mean %.4f std %.4f\n", mean[0], std[0])

	sub := ds.Train.Subset(1000, 1)
	x := sub.Standardized(mean, std) // float32, NCHW, ready for a [1000,1,28,28] tensor
	fmt.Println(sub.N, len(x), len(x) == sub.N*ds.ExampleSize())
	// Output:
	// mnist [1 28 28] train 60000 test 10000 classes 10
	// mean 0.1307 std 0.3081
	// 1000 784000 true
}
