# Sourced by tools/run.sh and tools/test.sh: lets ccache reuse objects between clones of the
# checkout at different paths (CI builds a fresh clone; tools/smoke_run.sh builds another).
# Paths under the checkout are hashed relative to it, and the build directory is not hashed
# (debug info then names the directory of the clone that first compiled an object).
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${PWD}"
  export CCACHE_NOHASHDIR=1
fi
