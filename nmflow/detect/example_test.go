package detect_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/detect"
)

// Scores of five null trials (Q from P) and five alternative trials (Q from the shifted set),
// e.g. the number of Q points an ensemble of CDCs rejected.
func Example() {
	null := []float64{0, 1, 1, 2, 3}
	alt := []float64{2, 4, 5, 6, 6}
	op := detect.TPRAtFPR(null, alt, 0.2) // at most one null trial in five may be flagged
	auc := detect.AUROC(null, alt)
	fmt.Printf("reject when score ≥ %v: TPR %.1f at FPR %.1f\n", op.Threshold, op.TPR, op.FPR)
	fmt.Printf("AUROC %.2f ± %.2f\n", auc, detect.AUROCSE(auc, len(null), len(alt)))
	// Output:
	// reject when score ≥ 4: TPR 0.8 at FPR 0.0
	// AUROC 0.94 ± 0.08
}
