"""The floor: the heatmap's model (cells, groups, measures) and finding the box from any of its names."""
