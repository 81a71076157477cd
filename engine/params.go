package engine

import (
	"fmt"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// ParamGroup is a contiguous range [Lo, Hi) of the flat parameter buffer
// that is clipped as one network ("V", "U" or "beta").
type ParamGroup struct {
	Name   string
	Lo, Hi int
	Frozen bool
}

// ParamGroups splits the model's flat buffer into the networks that are
// clipped separately: "V", "U" and "beta", by tensor-name prefix, marking
// those named in freeze.
func ParamGroups(net *networks.Net, freeze []string) ([]ParamGroup, error) {
	var groups []ParamGroup
	for _, t := range net.Layout() {
		name, _, _ := strings.Cut(t.Name, ".")
		if len(groups) == 0 || groups[len(groups)-1].Name != name {
			groups = append(groups, ParamGroup{Name: name, Lo: t.Offset})
		}
		groups[len(groups)-1].Hi = t.Offset + t.Size()
	}
	for _, f := range freeze {
		found := false
		for i := range groups {
			if groups[i].Name == f {
				groups[i].Frozen, found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot freeze %q: the %s model has no such network", f, net.Kind)
		}
	}
	return groups, nil
}
