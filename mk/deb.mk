# Debian packaging: `make deb` builds dist/modelmux_<version>_<arch>.deb.
#
# The build runs in a scratch copy of the tree (build/deb/), so the checkout
# never collects debian/modelmux/, debian/.debhelper/ or ../*.deb files, and
# with a clean PATH, so the virtualenv inside the package is made by the
# system /usr/bin/python3 (never a pyenv or .venv python).
#
#   make deb          build the .deb (installs missing build dependencies as root)
#   make deb-lint     run lintian on it
#   make deb-deps     only install the build dependencies
#   make deb-clean    remove build/deb and the built files in dist/

DEB_DIST      ?= dist
DEB_BUILD_DIR ?= build/deb
DEB_SYSPATH   := /usr/sbin:/usr/bin:/sbin:/bin
DEB_VERSION    = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_ARCH       = $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE       = $(DEB_DIST)/modelmux_$(DEB_VERSION)_$(DEB_ARCH).deb
# Build dependencies beyond debian/control's (which `apt-get build-dep` reads).
DEB_TOOLS     := dpkg-dev build-essential lintian

.PHONY: deb deb-deps deb-lint deb-clean

deb-deps:
	@missing=""; \
	command -v dpkg-buildpackage >/dev/null 2>&1 || missing="$(DEB_TOOLS)"; \
	command -v lintian >/dev/null 2>&1 || missing="$(DEB_TOOLS)"; \
	if [ -z "$$missing" ] && dpkg-checkbuilddeps >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "error: missing build dependencies; run as root: apt-get install $(DEB_TOOLS) && apt-get build-dep ./" >&2; \
	  dpkg-checkbuilddeps || true; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get install -y -qq --no-install-recommends $(DEB_TOOLS) && apt-get build-dep -y -qq ./; } \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEB_TOOLS) \
	       && apt-get build-dep -y -qq ./; }

deb: deb-deps
	@test -f contrib/modelmux.toml || { echo "error: contrib/modelmux.toml (the sample config) is missing" >&2; exit 1; }
	@v=$$(PYTHONPATH=. /usr/bin/python3 -c 'import modelmux; print(modelmux.__version__)'); \
	  test "$$v" = "$(DEB_VERSION)" || { echo "error: debian/changelog says $(DEB_VERSION) but modelmux.__version__ is $$v (run: dch -v $$v)" >&2; exit 1; }
	rm -rf $(DEB_BUILD_DIR)
	mkdir -p $(DEB_BUILD_DIR)/src $(DEB_BUILD_DIR)/tmp $(DEB_DIST)
	@# Tracked and new (not ignored) files; a plain copy when this is no git checkout.
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -z --cached --others --exclude-standard \
	    | xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh \
	    | tar --null -T - -cf - | tar -xf - -C $(DEB_BUILD_DIR)/src; \
	else \
	  tar --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
	      --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C $(DEB_BUILD_DIR)/src; \
	fi
	@# A private TMPDIR: venv/ensurepip and pip unpack there, safe from /tmp cleaners.
	cd $(DEB_BUILD_DIR)/src && env -u VIRTUAL_ENV -u PYTHONPATH -u PYTHONHOME PATH=$(DEB_SYSPATH) \
	  TMPDIR=$(abspath $(DEB_BUILD_DIR))/tmp \
	  dpkg-buildpackage --build=binary --no-sign
	rm -f $(DEB_DIST)/modelmux_$(DEB_VERSION)_*
	mv $(DEB_BUILD_DIR)/modelmux_$(DEB_VERSION)_* $(DEB_DIST)/
	@echo "built $(DEB_FILE)"

deb-lint: $(DEB_FILE)
	lintian --info --display-info --pedantic --fail-on error $(DEB_FILE)

$(DEB_FILE):
	$(MAKE) deb

deb-clean:
	rm -rf $(DEB_BUILD_DIR)
	rm -f $(DEB_DIST)/modelmux_*.deb $(DEB_DIST)/modelmux_*.buildinfo $(DEB_DIST)/modelmux_*.changes
