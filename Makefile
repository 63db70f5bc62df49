# mapmint: `make` builds module/mapmint.ko against KDIR (default: the pinned kernel that
# scripts/build-kernel.sh builds once into the cache), `make ctl` builds mapminctl,
# `make check` runs every test, `make demo` boots the demo guest, `make install` installs
# (scripts/install.sh: the module for KDIR, mapminctl, the systemd unit, the DHCPv6 hooks).
export PATH := $(HOME)/.cargo/bin:$(PATH)

# An empty KDIR means: build (or reuse) the pinned kernel.
KDIR ?=
kdir = kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(bash scripts/build-kernel.sh) || exit 1

.PHONY: all module ctl check demo install clean
all: module

module:
	@$(kdir); $(MAKE) -C "$$kdir" M=$(CURDIR) LLVM=1 modules

ctl:
	cargo build --release -p mapminctl

check:
	bash tests/run.sh

demo:
	bash scripts/demo.sh

install:
	@$(kdir); bash scripts/install.sh --kdir "$$kdir"

clean:
	@$(kdir); $(MAKE) -C "$$kdir" M=$(CURDIR) LLVM=1 clean
	cargo clean
