"""``python -m ghost_backbones.data.synthetic {coco,voc,voc-det} --output ROOT [options]``."""

from .cli import main

if __name__ == "__main__":
    main()
