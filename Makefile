# Shortcuts for those who have make; dev.py works with Python alone.
.PHONY: demo test schemas bench
demo:
	python3 dev.py demo
test:
	python3 dev.py test
schemas:
	.venv/bin/chargectl schemas
bench:
	.venv/bin/python bench/validate.py
