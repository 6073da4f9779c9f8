package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v4"
)

type BootloaderKind int

var names = []string{"none", "dual-boot", "sd-boot", "grub"}

func (i BootloaderKind) MarshalText() ([]byte, error) { return []byte(names[i]), nil }
func (i *BootloaderKind) UnmarshalText(text []byte) error {
	s := string(text)
	for k, n := range names {
		if n == s || n == strings.ToLower(s) {
			*i = BootloaderKind(k)
			return nil
		}
	}
	return fmt.Errorf("%s does not belong to BootloaderKind values", s)
}

type Schematic struct {
	Owner         string        `yaml:"owner,omitempty"`
	Overlay       Overlay       `yaml:"overlay,omitempty"`
	Customization Customization `yaml:"customization"`
}
type Customization struct {
	EmbeddedMachineConfiguration string                  `yaml:"embeddedMachineConfiguration,omitempty"`
	ExtraKernelArgs              []string                `yaml:"extraKernelArgs,omitempty"`
	Meta                         []MetaValue             `yaml:"meta,omitempty"`
	SystemExtensions             SystemExtensions        `yaml:"systemExtensions,omitempty"`
	Bootloader                   BootloaderKind          `yaml:"bootloader,omitempty"`
	SecureBoot                   SecureBootCustomization `yaml:"secureboot,omitempty"`
	DiskImage                    DiskImageCustomization  `yaml:"diskImage,omitempty"`
}
type MetaValue struct {
	Key   uint8  `yaml:"key"`
	Value string `yaml:"value"`
}
type SystemExtensions struct {
	OfficialExtensions []string `yaml:"officialExtensions,omitempty"`
}
type Overlay struct {
	Image   string         `yaml:"image"`
	Name    string         `yaml:"name"`
	Options map[string]any `yaml:"options,omitempty"`
}
type SecureBootCustomization struct {
	EnrollKeys                   string `yaml:"enrollKeys,omitempty"`
	IncludeWellKnownCertificates bool   `yaml:"includeWellKnownCertificates,omitempty"`
}
type DiskImageCustomization struct {
	SectorSize uint `yaml:"sectorSize,omitempty"`
}

func one(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Schematic
	if err := dec.Decode(&cfg); err != nil {
		fmt.Printf("ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", "\\n"))
		return
	}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		fmt.Printf("ERROR marshal %s\n", err)
		return
	}
	sum := sha256.Sum256(out)
	fmt.Printf("OK %s %s\n", hex.EncodeToString(sum[:]), hex.EncodeToString(out))
}

func main() {
	data, _ := io.ReadAll(os.Stdin)
	// inputs separated by a line "%%%%\n"
	for _, part := range bytes.Split(data, []byte("\n%%%%\n")) {
		one(part)
	}
}
