# The one-shot job of examples/docker-stack.yml (mounted as the config /migrate.sh): stands for a
# schema migration that must finish before web starts. It prints what it does and exits 0.
echo "migrate: 1/2 create table visits"
echo "migrate: 2/2 add index visits_at"
echo "migrate: done"
