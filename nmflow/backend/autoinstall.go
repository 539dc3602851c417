//go:build ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64)) && !noxla

package backend

import (
	"os"

	"github.com/gomlx/go-xla/compute/xla"
)

// go-xla reads GOMLX_NO_AUTO_INSTALL once, in its own init, and otherwise downloads PJRT plugins
// on first use; these machines are offline (and a download is a surprise anyway), so the binary
// and every program using nmflow keep it off unless the variable says otherwise.
func init() {
	if _, set := os.LookupEnv(noAutoInstallEnv); !set {
		_ = os.Setenv(noAutoInstallEnv, "1")
		xla.EnableAutoInstall(false)
	}
}
