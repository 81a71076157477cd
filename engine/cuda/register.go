package cuda

import (
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// Name is the backend's registry name, --device cuda.
const Name = "cuda"

// The backend's facts for the engine: --device auto takes it before the
// CPU when a GPU answers; it computes in float32 (the default) or float64;
// a rank picks its GPU among a node's by its local rank; NCCL sums its
// buffers on the GPU, and MPI through a host copy.
func init() {
	engine.Register(engine.Registration{
		Name: Name, Label: "CUDA", Auto: 10, Available: available,
		Precisions: []string{engine.Float32, engine.Float64},
		PickDevice: ChooseDevice,
		Collectives: []engine.CollectiveOffer{
			{Name: collective.NCCL, Unavailable: ncclUnavailable, Open: openNCCL},
			engine.MPIOffer,
		},
		New: newDefault,
	})
}

// available opens the default device and describes it.
func available() (string, error) {
	d, err := DefaultDevice()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func newDefault(net *networks.Net, p *engine.Problem, s engine.Settings) (engine.Backend, error) {
	d, err := DefaultDevice()
	if err != nil {
		return nil, err
	}
	return New(d, net, p, s)
}

// ncclUnavailable is why libnccl cannot be opened, nil when it can.
func ncclUnavailable() error {
	_, err := collective.LoadNCCL()
	return err
}

// openNCCL makes this rank's NCCL communicator on the default device.
func openNCCL(j engine.Joining) (collective.Group, func() error, error) {
	dev, err := DefaultDevice()
	if err != nil {
		return nil, nil, err
	}
	return engine.OpenNCCL(j, dev.Do)
}
