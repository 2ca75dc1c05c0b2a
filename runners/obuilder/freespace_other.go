//go:build !linux

package obuilder

import (
	"fmt"
	"runtime"
)

func freePercent(dir string) (float64, error) {
	return 0, fmt.Errorf("checking free space on %s: not implemented on %s", dir, runtime.GOOS)
}
