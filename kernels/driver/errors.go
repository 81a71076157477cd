package driver

import (
	"errors"
	"fmt"
)

// CUresult codes (cuda.h's CUDA_ERROR_*) that callers may want to tell
// apart; Error.Code holds any code the driver returns.
const (
	ErrInvalidValue         = 1   // CUDA_ERROR_INVALID_VALUE
	ErrOutOfMemory          = 2   // CUDA_ERROR_OUT_OF_MEMORY
	ErrNotInitialized       = 3   // CUDA_ERROR_NOT_INITIALIZED
	ErrDeinitialized        = 4   // CUDA_ERROR_DEINITIALIZED
	ErrInsufficientDriver   = 35  // CUDA_ERROR_INSUFFICIENT_DRIVER
	ErrNoDevice             = 100 // CUDA_ERROR_NO_DEVICE
	ErrInvalidDevice        = 101 // CUDA_ERROR_INVALID_DEVICE
	ErrInvalidImage         = 200 // CUDA_ERROR_INVALID_IMAGE
	ErrInvalidContext       = 201 // CUDA_ERROR_INVALID_CONTEXT
	ErrNoBinaryForGPU       = 209 // CUDA_ERROR_NO_BINARY_FOR_GPU
	ErrInvalidPTX           = 218 // CUDA_ERROR_INVALID_PTX
	ErrUnsupportedPTX       = 222 // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
	ErrInvalidHandle        = 400 // CUDA_ERROR_INVALID_HANDLE
	ErrNotFound             = 500 // CUDA_ERROR_NOT_FOUND
	ErrIllegalAddress       = 700 // CUDA_ERROR_ILLEGAL_ADDRESS
	ErrLaunchOutOfResources = 701 // CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES
	ErrLaunchFailed         = 719 // CUDA_ERROR_LAUNCH_FAILED
	ErrSystemDriverMismatch = 803 // CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
	ErrUnknown              = 999 // CUDA_ERROR_UNKNOWN
)

// Error is a failed driver call. Use errors.As to get at it, or IsCode.
type Error struct {
	Call        string // the driver entry point, e.g. "cuMemAlloc_v2"
	Code        int    // the CUresult
	Name        string // cuGetErrorName, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Description string // cuGetErrorString, e.g. "out of memory"
	Detail      string // the emulator's last-error text and/or a JIT log; may be empty
}

// Error is one line, e.g.
// "cuMemAlloc_v2: out of memory (CUDA_ERROR_OUT_OF_MEMORY)", followed by
// ": " and the detail (its lines joined with "; ") when there is one.
func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = fmt.Sprintf("CUresult %d", e.Code)
	}
	s := e.Call + ": " + name
	if e.Description != "" {
		s = e.Call + ": " + oneLine(e.Description) + " (" + name + ")"
	}
	if d := oneLine(e.Detail); d != "" {
		s += ": " + d
	}
	return s
}

// IsCode reports whether err is, or wraps, an *Error with the given code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
