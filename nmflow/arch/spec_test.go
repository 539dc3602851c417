package arch

import "testing"

func TestInputSize(t *testing.T) {
	for _, c := range []struct {
		s    Spec
		want int
	}{{MLP([]int{1, 28, 28}, 10, 32), 784}, {CNN([]int{3, 32, 32}, 10, []int{8}), 3072}, {MLP([]int{13}, 2), 13}} {
		if got := c.s.InputSize(); got != c.want {
			t.Errorf("%s: InputSize %d, want %d", c.s, got, c.want)
		}
	}
}
