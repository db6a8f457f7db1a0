# Sourced by the deploy tests: copy_tree SRC DST copies the source tree (no build
# directories, no .git) so a test can break or reconfigure its copy, never the original.
copy_tree() {
  local src=$1 dst=$2 entry
  mkdir -p "$dst"
  for entry in "$src"/* "$src"/.gitignore; do
    case ${entry##*/} in build*|.git) continue ;; esac
    cp -a "$entry" "$dst/"
  done
}
