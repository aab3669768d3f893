# Shortcuts for those who have make; dev.py works with Python alone.
.PHONY: demo test schemas bench image image-check
demo:
	python3 dev.py demo
test:
	python3 dev.py test
schemas:
	.venv/bin/chargectl schemas
bench:
	.venv/bin/python bench/validate.py
# The container image, built without a registry or Docker (as root; a few minutes): an OCI
# layout in build/image/oci and a docker-archive beside it. image-check runs it (chroot).
image:
	deploy/image/build.sh
image-check:
	deploy/image/check.sh
