//go:build !unix

package docker

import "errors"

func freeSpace(string) (blocks, inodes float64, err error) {
	return 0, 0, errors.New("free space is only checked on Unix")
}
