package zoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// TrainOrReuse returns the zoo stored at path when it was trained with exactly cfg (the
// zoo_config its metadata records, after defaults); otherwise it loads the dataset with load,
// trains the zoo (resumable through path + ".state") and writes it to path. Notebooks use it so
// that running a cell again, or another notebook with the same settings, costs nothing.
func TrainOrReuse(ctx context.Context, path string, cfg Config, load func() (*data.Dataset, error), opt Options) (z *traj.Zoo, reused bool, err error) {
	full, err := cfg.Defaults()
	if err != nil {
		return nil, false, err
	}
	want, err := json.Marshal(full)
	if err != nil {
		return nil, false, err
	}
	if old, err := traj.ReadZoo(path); err == nil && old.Meta.Extra["zoo_config"] == string(want) {
		return old, true, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "zoo: not reusing %s (%v); training it again\n", path, err)
	}
	ds, err := load()
	if err != nil {
		return nil, false, err
	}
	if opt.State == "" {
		opt.State = path + ".state"
	}
	if z, err = Train(ctx, cfg, ds, opt); err != nil {
		return nil, false, err
	}
	if err := traj.WriteZoo(path, z); err != nil {
		return nil, false, err
	}
	os.Remove(opt.State)
	return z, false, nil
}
